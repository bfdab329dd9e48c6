"""The base of the parts that the threaded client's Context is made of.

``Searching``, ``CircuitIO`` and ``MessageHandling`` are mixins of one ``Context``
(``_context.py``): each uses state and methods that Context or another part defines. At
run time their base is ``object``; to a type checker it declares what the parts use of
each other, with its types, so that those cross-references are checked like the rest.
"""
from __future__ import annotations

import socket
import threading
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import caproto_core as core

    from ._channels import ClientChannel, Pending, Subscription
    from ._config import Config
    from ._dispatch import Dispatcher
    from ._event_loop import EventLoop
    from ._tcp_circuit import Circuit
    from .engine import RepeaterRegistration, RetryPolicy, SearchPlan

    Handlers = dict[type, Callable[[Any, Circuit, Any], None]]

    class ContextPart:
        # State, set by Context.__init__.
        config: Config
        loop: EventLoop
        dispatcher: Dispatcher
        channels: dict[int, ClientChannel]
        circuits: dict[tuple, Circuit]
        search_plan: SearchPlan[ClientChannel]
        repeater_registration: RepeaterRegistration
        events_held: bool
        _lock: threading.RLock
        _running: bool
        _udp: socket.socket
        _broadcaster: core.Broadcaster
        _resolved: dict[str, str]
        _name_servers: dict[tuple, Circuit]
        _retry: RetryPolicy
        _unflushed: set[Circuit]
        _HANDLERS: Handlers
        _CALLER_HANDLERS: Handlers

        # Context (_context.py)
        def _send_read(self, channel: ClientChannel, pending: Pending,
                       count: int | None) -> None: ...
        def _drop_subscription(self, subscription: Subscription) -> None: ...
        def _flush(self, circuit: Circuit) -> None: ...
        def _set_interest(self, circuit: Circuit) -> None: ...
        def _hold_events(self) -> None: ...

        # Searching (_searching.py)
        def _start_search(self, channel: ClientChannel) -> None: ...
        def _plan_search_tick(self, delay: float) -> None: ...
        def _on_search_response(self, response: core.SearchResponse, sender: Any) -> None: ...
        def _connect_name_server(self, address: tuple[str, int]) -> None: ...

        # CircuitIO (_receiving.py)
        def _attach(self, channel: ClientChannel, address: tuple[str, int]) -> None: ...
        def _connect(self, circuit: Circuit) -> None: ...

        # MessageHandling (_handling.py)
        def _on_closed_by_server(self, circuit: Circuit) -> None: ...
        def _lose_circuit(self, circuit: Circuit, reason: str) -> None: ...
else:
    ContextPart = object
