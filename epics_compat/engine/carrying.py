"""What one circuit carries (channels, requests awaiting their answer), and what
connecting, a refused or dropped channel and a lost circuit do to them: no I/O.

Each transport's circuit is a ``CircuitChannels``. The transport asks it what to send
(the greeting and the creations when the TCP connection is up, a creation when a found
channel joins an open circuit) and what a loss leaves to do (requests to fail, channels
to disconnect and search for again); it sends, fails and calls back its own way. The
rules are libca's:

- a channel found on a server waits for the circuit to connect, then is created with the
  others that waited, right after the greeting (version and priority, host and user
  names, and EVENTS_OFF when the client holds monitor updates);
- a closed channel is never created;
- a refused creation is searched for again after REFUSED_RETRY seconds;
- a channel the server drops loses its requests, and is searched for again at once;
- a lost circuit loses every request and channel it carried; its channels search again
  after the retry delay of ``RetryPolicy``; a name server is reconnected after
  NAME_SERVER_RECONNECT seconds;
- a channel that was connected is "previously connected" after a loss (its connection
  callbacks run); one that never connected stays "never connected"; a closed one stays
  closed.
"""
from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar

import caproto_core as core

#: Seconds before a channel whose creation the server refused is searched for again.
REFUSED_RETRY = 1.0
#: Seconds before a lost name-server circuit is connected again.
NAME_SERVER_RECONNECT = 5.0

# Channel states, numbered as libca's ca_state() reports them.
NEVER_CONNECTED, PREVIOUSLY_CONNECTED, CONNECTED, CLOSED = 0, 1, 2, 3


class CarriedChannel(Protocol):
    """What a transport's channel record offers: its name, its state (numbered as
    above) and the core's channel while it is on a circuit."""
    name: str
    state: int
    core: core.Channel | None


class AwaitedAnswer(Protocol):
    """What a transport's record of a read or write awaiting its answer offers."""
    channel: Any


Channel = TypeVar("Channel", bound=CarriedChannel)
Request = TypeVar("Request", bound=AwaitedAnswer)


class CircuitChannels(Generic[Channel, Request]):
    """The channels and requests of one circuit (``core``: the core's view of it)."""

    def __init__(self, circuit: core.VirtualCircuit):
        self.core = circuit
        self.connected = False  # the greeting is sent: creations go out at once
        self.waiting: list[Channel] = []  # found on this server, not created yet
        self.channels: dict[int, Channel] = {}  # created (or being created), by cid
        self.pending: dict[int, Request] = {}  # by ioid

    def greeting(self, host: str, user: str, hold_events: bool) -> list[core.Message]:
        """The TCP connection is up: what to send first, then the creations of the
        channels that waited for it."""
        self.connected = True
        messages: list[core.Message] = [core.VersionRequest(priority=self.core.priority),
                                        core.HostNameRequest(host),
                                        core.ClientNameRequest(user)]
        if hold_events:
            messages.append(core.EventsOffRequest())
        waiting, self.waiting = self.waiting, []
        messages.extend(self._create(channel) for channel in waiting
                        if channel.state != CLOSED)
        return messages

    def carry(self, channel: Channel) -> list[core.Message]:
        """A channel found on this circuit's server: its creation request if the
        circuit is connected; none if it waits (see greeting) or is closed."""
        if channel.state == CLOSED:
            return []
        if not self.connected:
            self.waiting.append(channel)
            return []
        return [self._create(channel)]

    def _create(self, channel: Channel) -> core.CreateChanRequest:
        created = channel.core = self.core.new_channel(channel.name)
        self.channels[created.cid] = channel
        return created.create()

    def forget(self, channel: Channel) -> None:
        """A channel cleared by the client: off the circuit (it sends the clear)."""
        if channel in self.waiting:
            self.waiting.remove(channel)
        if channel.core is not None and self.channels.get(channel.core.cid) is channel:
            del self.channels[channel.core.cid]

    def refused(self, cid: int) -> Channel | None:
        """The server refused to create a channel: it is off this circuit, and is
        searched for again after REFUSED_RETRY."""
        return self.channels.pop(cid, None)

    def dropped(self, cid: int) -> tuple[Channel | None, list[Request]]:
        """The server dropped a channel: the channel, and its requests to fail."""
        channel = self.channels.pop(cid, None)
        if channel is None:
            return None, []
        lost = [ioid for ioid, request in list(self.pending.items())
                if request.channel is channel]
        return channel, [request for request in map(self._take, lost) if request is not None]

    def _take(self, ioid: int) -> Request | None:
        return self.pending.pop(ioid, None)

    def lost(self) -> tuple[list[Request], list[Channel]]:
        """The circuit is gone: every request to fail and every channel it carried
        (created or waiting) to disconnect; nothing is left on it."""
        self.connected = False
        # Popped one by one: a caller receiving its own reply may take one meanwhile.
        requests = [request for request in map(self._take, list(self.pending))
                    if request is not None]
        channels = list(self.channels.values()) + self.waiting
        self.channels.clear()
        self.waiting = []
        if self.core.state is not core.CircuitState.DISCONNECTED:
            self.core.disconnect()
        return requests, channels


def state_after_loss(state: int) -> int:
    """A channel's state once its circuit or its server let it go."""
    if state == CLOSED:
        return CLOSED
    return PREVIOUSLY_CONNECTED if state == CONNECTED else state
