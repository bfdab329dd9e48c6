"""What the threaded client keeps per channel and per request: channel states as libca
numbers them, the channel record, subscriptions, requests in flight, and the errors."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Protocol

import caproto_core as core

from .sync import Done, Flag, made_when_used

if TYPE_CHECKING:
    from ._context import Context
    from ._tcp_circuit import Circuit


#: Access rights as plain ints: IntFlag arithmetic costs microseconds per channel.
READ_ACCESS, WRITE_ACCESS = int(core.AccessRights.READ), int(core.AccessRights.WRITE)

# Channel connection states, numbered as libca's ca_state() reports them.
CS_NEVER_CONN, CS_PREV_CONN, CS_CONN, CS_CLOSED = 0, 1, 2, 3


class ChannelAccessError(Exception):
    """A request could not be done: disconnected, refused, or timed out."""


class WriteAccessDenied(ChannelAccessError):
    """The server gives no write access to the channel (the put was not sent)."""


class Pending:
    """A request in flight: whoever receives the reply fills ``result`` and sets ``done``."""
    __slots__ = ("done", "result", "error", "callback", "channel", "ioid", "circuit",
                 "reader")

    def __init__(self, channel: ClientChannel, callback: Callable | None = None):
        self.done = Done()
        self.result = None
        self.error: str | None = None
        self.callback = callback
        self.channel = channel
        self.ioid: int | None = None  # of the request, once made
        self.circuit: Circuit | None = None  # set when the request is sent
        #: The thread that took the circuit to receive the reply before sending the
        #: request (``receive=True``); its wait (or ``Context.end_receive``) gives it back.
        self.reader: int | None = None

    def wait(self, timeout: float | None) -> bool:
        if self.reader is None and (self.done.is_set() or self.circuit is None):
            return self.done.wait(timeout)
        return self.channel.context.wait_for(self, timeout)


class Subscription:
    """A monitor that survives reconnections: re-sent on every new circuit."""
    __slots__ = ("channel", "data_type", "count", "mask", "callback", "keeps_at_once",
                 "subscriptionid", "active", "queued_in")

    def __init__(self, channel: ClientChannel, data_type: int | str, count: int, mask: int,
                 callback: Callable, keeps_at_once: bool = False):
        self.channel = channel
        self.data_type = data_type  # a type id, or a family name resolved on connection
        self.count = count
        self.mask = mask
        self.callback = callback
        self.keeps_at_once = keeps_at_once  # see Context.subscribe
        self.subscriptionid: int | None = None
        self.active = True
        #: With ``keeps_at_once``: the batch of callbacks its last queued update went
        #: into (set by the receiving thread). The dispatcher empties a batch once it has
        #: run all of it, so an empty (or no) batch means none of its updates waits:
        #: only then is ``callback.keep_at_once`` offered one, and updates stay in order.
        self.queued_in: list | None = None

    def __repr__(self) -> str:
        return (f"<Subscription {self.channel.name!r} type={self.data_type} "
                f"mask={self.mask} id={self.subscriptionid}>")


class ChannelListener(Protocol):
    """What a channel tells of its connection and access rights, before the callbacks.

    ``connection_noted`` runs on the I/O thread (quick, no lock) and says whether to call
    the other two, which run on the dispatcher.
    """

    def connection_noted(self, connected: bool) -> bool: ...

    def channel_connection(self, channel: ClientChannel, connected: bool) -> None: ...

    def channel_access(self, channel: ClientChannel, read: bool, write: bool) -> None: ...


class ClientChannel:
    """A named channel of the context, across searches, connections and reconnections.

    Slotted, as are the other objects made per channel: thousands of them are common.
    """
    __slots__ = ("context", "name", "chid", "priority", "state", "circuit", "core",
                 "native_type", "native_count", "access_rights", "connected",
                 "_connection_callbacks", "_access_callbacks", "subscriptions",
                 "search_attempts", "next_search", "listener", "reads_on_connect")

    def __init__(self, context: Context, name: str, chid: int, priority: int):
        self.context = context
        self.name = name
        self.chid = chid
        self.priority = priority
        self.state = CS_NEVER_CONN
        self.circuit: Circuit | None = None
        self.core: core.Channel | None = None
        self.native_type = -1
        self.native_count = 0
        self.access_rights = 0  # AccessRights bits, as a plain int
        self.connected = Flag()
        # Made when first used (see the properties): most channels have a listener only.
        self._connection_callbacks: list[Callable] | None = None
        self._access_callbacks: list[Callable] | None = None
        self.subscriptions: list[Subscription] = []
        self.search_attempts = 0
        self.next_search = 0.0
        #: Told of connection and access changes before the callbacks (the ca module's
        #: cache entry), or None.
        self.listener: ChannelListener | None = None
        #: (Pending, count) of reads to send once connected (``read_when_connected``);
        #: used on the I/O thread only.
        self.reads_on_connect: list[tuple[Pending, int | None]] | None = None

    connection_callbacks = made_when_used(
        "_connection_callbacks", list,
        "Functions called as f(channel, connected) on the callback thread.")
    access_callbacks = made_when_used(
        "_access_callbacks", list,
        "Functions called as f(channel, read, write) on the callback thread.")

    @property
    def host(self) -> str:
        circuit = self.circuit
        if circuit is None:
            return "<disconnected>"
        return circuit.host

    def __repr__(self) -> str:
        return f"<ClientChannel {self.name!r} chid={self.chid} state={self.state}>"
