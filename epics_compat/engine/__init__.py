"""The client's decisions without I/O, shared by its transports (threads, asyncio).

Each piece takes events (a name to find, a reply, a beacon, the time now) and answers
with what to do (send these searches, search again at t); none owns a socket, a thread
or a clock, so tests drive them with plain calls and made-up times.
"""
from .carrying import NAME_SERVER_RECONNECT, REFUSED_RETRY, CircuitChannels, state_after_loss
from .circuits import CONNECT_TIMEOUT, ECHO_TIMEOUT, SEND_ECHO, CircuitHealth, RetryPolicy
from .repeater import RepeaterRegistration
from .search import (BEACON_RESTART_INTERVAL, FIRST_SEARCH_DELAY, MAX_BEACON_SERVERS,
                     Searchable, SearchPlan, beacon_server)

__all__ = ["NAME_SERVER_RECONNECT", "REFUSED_RETRY", "CircuitChannels", "state_after_loss",
           "CONNECT_TIMEOUT", "ECHO_TIMEOUT", "SEND_ECHO", "CircuitHealth", "RetryPolicy",
           "RepeaterRegistration", "BEACON_RESTART_INTERVAL", "FIRST_SEARCH_DELAY",
           "MAX_BEACON_SERVERS", "Searchable", "SearchPlan", "beacon_server"]
