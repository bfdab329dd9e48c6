"""The client context: one I/O thread that resolves names and runs every TCP circuit.

Threads that call get/put write their request to the circuit's socket themselves (under
the circuit's lock). While one waits for its reply, it receives on that circuit itself
if nobody else is (the I/O thread stops watching the socket meanwhile): one request, one
response, no thread hand-off. It handles only replies and monitor updates; anything
else goes to the I/O thread with the circuit, in order. A waiter that cannot receive
waits on an event set by whoever handles its reply. Everything that concerns user code
(connections, monitor updates, put completions) goes to the dispatcher thread, so a
slow callback never stalls a socket reader.

Who owns what:

- The I/O thread alone connects and disconnects channels, opens and loses circuits,
  searches, runs timers and changes a circuit's tables (channels, pending, waiting).
- A caller changes a channel's subscriptions and marks it closed under the context's
  ``_lock``; the I/O thread reads them under that lock when it connects the channel, and
  never connects a closed one. A caller sends on a circuit (a request, a subscription,
  a cancel) only under the circuit's ``lock``, which the I/O thread holds while it
  handles that circuit's messages: so a subscription is sent by one of them, once.
- A circuit's ``reader`` lock says who receives on it (the I/O thread or one caller);
  ``send_lock`` who writes to its socket; ``queue_lock`` and ``io_lock`` guard its
  outgoing queue and what the selector watches.

Lock order, outermost first: ``reader``, circuit ``lock``, context ``_lock``, then
``send_lock`` before ``queue_lock``; ``io_lock`` and ``sync.flag_lock`` are leaves (nothing
is taken while one is held).
The RLocks are reentrant because the garbage collector may run ``PV.__del__`` (which
unsubscribes) on a thread that holds one.
"""
from __future__ import annotations

import errno
import functools
import heapq
import itertools
import logging
import operator
import os
import select
import selectors
import socket
import threading
import time
from typing import Callable

import caproto_core as core
from caproto_core import CLIENT, ProtocolError

from ._config import Config
from ._dispatch import Dispatcher
from .engine import SEND_ECHO, CircuitHealth, RetryPolicy, SearchPlan, flow
from .host import host_name, resolve, start_repeater, user_name
from .sync import Done, Flag, bounded, made_when_used

logger = logging.getLogger("epics_compat.context")

_UPDATE = core.EventAddResponse
#: Access rights as plain ints: IntFlag arithmetic costs microseconds per channel.
_READ, _WRITE = int(core.AccessRights.READ), int(core.AccessRights.WRITE)

# Channel connection states, numbered as libca's ca_state() reports them.
CS_NEVER_CONN, CS_PREV_CONN, CS_CONN, CS_CLOSED = 0, 1, 2, 3

RECEIVE_SIZE = 1 << 18
#: Room for the largest metadata structure (DBR_CTRL_ENUM: 422 bytes) and padding.
METADATA_ALLOWANCE = 512
#: Messages at least this large are received straight into a buffer of their own size.
LARGE_MESSAGE = 1 << 18
#: Seconds a caller's write may wait for a server that takes no data before the circuit
#: is dropped (the I/O thread itself never waits: it keeps what is left for later).
SEND_TIMEOUT = 10.0


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
    __slots__ = ("channel", "data_type", "count", "mask", "callback", "subscriptionid",
                 "active")

    def __init__(self, channel: ClientChannel, data_type: int | str, count: int, mask: int,
                 callback: Callable):
        self.channel = channel
        self.data_type = data_type  # a type id, or a family name resolved on connection
        self.count = count
        self.mask = mask
        self.callback = callback
        self.subscriptionid: int | None = None
        self.active = True

    def __repr__(self) -> str:
        return (f"<Subscription {self.channel.name!r} type={self.data_type} "
                f"mask={self.mask} id={self.subscriptionid}>")


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
        #: Told of connection and access changes before the callbacks: an object with
        #: ``connection_noted(connected)`` (on the I/O thread: quick, no lock; whether
        #: to call the next two on the dispatcher), ``channel_connection(channel,
        #: connected)`` and ``channel_access(channel, read, write)``: the ca module's
        #: cache entry, or None.
        self.listener = None
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


class Circuit:
    """A TCP connection to one server at one priority, and the core's view of it."""

    def __init__(self, context: Context, address: tuple[str, int], priority: int):
        self.context = context
        self.address = address
        #: "host:port", made once: every channel's PV keeps it (pyepics' ``host``).
        self.host = f"{address[0]}:{address[1]}"
        self.priority = priority
        # The limit is on array bytes; a payload adds its metadata structure and padding.
        self.core = core.VirtualCircuit(
            CLIENT, address, priority,
            max_payload_size=context.config.max_array_bytes + METADATA_ALLOWANCE)
        self.lock = threading.RLock()
        #: Held while writing to the socket, and never while waiting for another lock:
        #: bytes are queued under ``lock`` (in the order the core recorded them), and
        #: written by whoever holds ``send_lock`` after letting ``lock`` go.
        self.send_lock = threading.Lock()
        #: Bytes waiting to be written, in order; ``queue_lock`` guards the list only.
        self.outgoing: list[bytes] = []
        self.queue_lock = threading.Lock()
        self.want_write = False  # the I/O thread watches for writability (bytes left)
        #: Whoever holds ``reader`` receives and handles this circuit's messages: the I/O
        #: thread, or a caller receiving its own reply (``Context.wait_for``).
        self.reader = threading.Lock()
        #: Guards ``caller_reading`` and what the selector watches on the socket, which
        #: callers change too; a socket closed while a caller reads it is closed by the
        #: caller (see ``Context._stop_reading``).
        self.io_lock = threading.Lock()
        self.caller_reading = False  # the I/O thread does not watch for replies meanwhile
        self.on_event: Callable | None = None  # the selector's callback for the socket
        self.watched = 0  # what the selector watches on the socket, once connected
        self.poller = None  # a caller's poll object for the socket (one reader at a time)
        self.sock: socket.socket | None = None
        self.connected = False
        self.closed = False
        self.waiting: list[ClientChannel] = []  # found on this server, not yet created
        self.channels: dict[int, ClientChannel] = {}  # by cid on this circuit
        self.pending: dict[int, Pending] = {}  # by ioid
        self.subscriptions: dict[int, Subscription] = {}  # by subscriptionid
        self.health = CircuitHealth(time.monotonic())
        self.name_server = False  # a circuit that only carries searches
        self.large: memoryview | None = None  # a large message being received
        self.large_filled = 0

    def __repr__(self) -> str:
        return f"<Circuit {self.address[0]}:{self.address[1]} priority={self.priority}>"

    def send(self, *messages: core.Message) -> None:
        """Check, record and queue messages; the caller holds ``self.lock``.

        On the I/O thread the bytes are written once per turn of its loop, with everything
        else queued meanwhile: the creations or subscriptions of 2,000 channels after a
        connection cost one system call instead of 2,000 (each ``sendall`` measured ~30 us
        here). From other threads the I/O thread is asked to write them: a caller holding
        ``self.lock`` must not wait for the socket (see ``write_queued``).
        """
        if self.queue(self.prepare(*messages)):
            if threading.get_ident() == self.context.io_thread_id:
                self.context._unflushed.add(self)
            else:
                self.context.call_soon(self.context._flush, self)

    def queue(self, data: bytes) -> bool:
        """Queue bytes to be written, in order; True if the queue was empty."""
        with self.queue_lock:
            self.outgoing.append(data)
            return len(self.outgoing) == 1

    def _take_queued(self) -> bytes:
        with self.queue_lock:
            data = b"".join(self.outgoing) if len(self.outgoing) != 1 else self.outgoing[0]
            self.outgoing.clear()
        return data

    def flush(self) -> bool:
        """On the I/O thread: write what the socket takes now, never waiting for it.

        Returns True if bytes are left (the caller watches for writability).
        """
        try:
            return self._write_some()
        except OSError as exc:
            self.context._lose_circuit(self, f"send failed: {exc}")
            return False

    def write_now(self) -> None:
        """On a caller thread: write what the socket takes now, never waiting for it; the
        I/O thread writes the rest (a caller receiving on the circuit must not wait for
        the socket to take bytes: the server may be waiting for us to read first)."""
        try:
            self._write_some()
        except OSError as exc:
            self._failed(exc)
        if self.outgoing and not self.closed:
            self.context.call_soon(self.context._flush, self)

    def _write_some(self) -> bool:
        """Write what the socket takes now; True if bytes are left. If another thread is
        writing, it hands what is queued to the I/O thread when done: False."""
        if not self.send_lock.acquire(blocking=False):
            return False
        try:
            if self.closed or not self.outgoing:
                return False
            data = self._take_queued()
            try:
                sent = self.sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            if sent < len(data):
                with self.queue_lock:
                    self.outgoing.insert(0, data[sent:])
                return True
            return False
        finally:
            self.send_lock.release()

    def write_queued(self) -> None:
        """On a caller thread holding no lock: write everything queued, waiting if need be.

        The socket is non-blocking; this waits for it to take the bytes, and gives up (the
        circuit is dropped) after SEND_TIMEOUT seconds without progress. It takes
        ``send_lock`` only, so the I/O thread keeps reading every circuit meanwhile
        (a server that stops reading until its own writes drain would otherwise deadlock
        with us).
        """
        try:
            with self.send_lock:
                if self.closed:
                    raise ChannelAccessError(f"circuit to {self.address[0]}:"
                                             f"{self.address[1]} is not connected")
                if self.outgoing:
                    self._send_all(self._take_queued())
        finally:
            if self.outgoing and not self.closed:  # queued by the I/O thread meanwhile
                self.context.call_soon(self.context._flush, self)

    def _send_all(self, data: bytes) -> None:
        """Write all of ``data`` (the caller holds ``send_lock``), waiting for the socket."""
        view = memoryview(data)
        deadline = time.monotonic() + SEND_TIMEOUT
        try:
            while view:
                try:
                    sent = self.sock.send(view)
                except (BlockingIOError, InterruptedError):
                    sent = 0
                if sent:
                    view = view[sent:]
                    deadline = time.monotonic() + SEND_TIMEOUT
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise socket.timeout(f"the server took no data for {SEND_TIMEOUT} s")
                _wait_writable(self.sock, remaining)
        except OSError as exc:
            self._failed(exc)

    def _failed(self, exc: OSError) -> None:
        """A caller's write failed: the I/O thread drops the circuit; the caller learns why."""
        self.context.call_soon(self.context._lose_circuit, self, f"send failed: {exc}")
        raise ChannelAccessError(f"send to {self.address[0]}:{self.address[1]} failed: "
                                 f"{exc}") from None

    def prepare(self, *messages: core.Message) -> bytes:
        """Check and record messages; their bytes. The caller holds ``self.lock``."""
        if self.closed or not self.connected:
            raise ChannelAccessError(f"circuit to {self.address[0]}:{self.address[1]} is "
                                     f"not connected")
        buffers = self.core.send(*messages)
        return b"".join(buffers) if len(buffers) > 1 else buffers[0]


class Context:
    """A Channel Access client context: channels, circuits, an I/O and a callback thread."""

    _ids = itertools.count(1)
    #: Channel ids are unique across contexts: pyepics keys its caches by them.
    _chids = itertools.count(1)

    def __init__(self, config: Config | None = None, preemptive: bool = True):
        """``preemptive=False``: callbacks run only when the program asks (see Dispatcher)."""
        self.config = config or Config.from_environment()
        self.id = next(Context._ids)
        self.pid = os.getpid()
        self.channels: dict[int, ClientChannel] = {}  # by chid
        self.circuits: dict[tuple, Circuit] = {}  # by (address, priority)
        self._lock = threading.RLock()
        self._timers: list = []  # heap of (when, sequence, function, args)
        self._timer_sequence = itertools.count()
        self._calls: list = []  # (function, args) for the I/O thread
        # Reentrant: a PV freed by the garbage collector while this thread holds it (an
        # allocation in call_soon) may queue its unsubscription through call_soon again.
        self._calls_lock = threading.RLock()
        self.search_plan = SearchPlan(self.config.max_search_period)
        self._search_sequence = 0
        self._next_search_tick = float("inf")
        self._broadcaster = core.Broadcaster(CLIENT)
        self._selector = selectors.DefaultSelector()
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        self._udp.bind(("", 0))
        self._udp.setblocking(False)
        self._selector.register(self._udp, selectors.EVENT_READ, self._on_datagram)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, self._on_wake)
        self._resolved: dict[str, str] = {}  # host in the address list -> IPv4 or ''
        self._search_targets()  # names are resolved now, on the caller's thread
        self.dispatcher = Dispatcher(f"epics_compat-callbacks-{self.id}", preemptive)
        self._running = True
        self._unflushed: set[Circuit] = set()  # circuits with queued bytes (I/O thread)
        self.io_thread_id: int | None = None
        self._repeater_confirmed = False
        self._repeater_attempts = 0
        self.call_soon(self._schedule, 1.0, self._check_circuits)
        self.call_soon(self._register_with_repeater)
        self._name_servers: dict[tuple, Circuit] = {}
        self._retry = RetryPolicy()  # for servers whose circuits were lost young
        self.events_held = False  # flow control: servers asked to hold monitor updates
        for address in self.config.name_servers:
            self.call_soon(self._connect_name_server, address)
        # Started last: the I/O thread reads every attribute set above.
        self._thread = threading.Thread(target=self._run, name=f"epics_compat-io-{self.id}",
                                        daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        searches = " ".join("%s:%d" % address for address in self._search_targets())
        return (f"<Context {self.id} channels={len(self.channels)} "
                f"circuits={len(self.circuits)} searches to {searches or 'nowhere'}>")

    # --- public API used by the ca module ---------------------------------------------

    def create_channel(self, name: str, priority: int = 0, *,
                       connection_callback: Callable | None = None,
                       access_callback: Callable | None = None,
                       listener: object = None) -> ClientChannel:
        """A new channel for ``name``; its search starts at once.

        Callbacks and the listener given here are in place before the search starts:
        one added after this returns can miss a connection that completed meanwhile.
        A listener (see ``ClientChannel.listener``) costs nothing per channel beyond
        itself, where callbacks are a list and, often, a bound method or a partial.
        """
        # Any other name is searched for, as libca does: one with spaces is simply not
        # found. Only what cannot go into a search request is refused.
        if not isinstance(name, str) or not name or len(name.encode()) > 1024:
            raise ValueError(f"invalid PV name {name!r}: a PV name is a non-empty string "
                             f"of at most 1024 bytes")
        if not 0 <= priority <= core.Priority.MAX:
            raise ValueError(f"priority {priority} for {name!r} is outside 0..99")
        with self._lock:
            channel = ClientChannel(self, name, next(self._chids), priority)
            channel.listener = listener
            # Lists of exactly one, not appended to (which leaves room for four).
            if connection_callback is not None:
                channel._connection_callbacks = [connection_callback]
            if access_callback is not None:
                channel._access_callbacks = [access_callback]
            self.channels[channel.chid] = channel
        self.call_soon(self._start_search, channel)
        return channel

    def clear_channel(self, channel: ClientChannel) -> None:
        """Forget a channel: clear it on its server, drop its subscriptions."""
        with self._lock:  # closed for good: the I/O thread connects no closed channel
            self.channels.pop(channel.chid, None)
            channel.state = CS_CLOSED
            channel.subscriptions.clear()
        channel.listener = None
        channel._connection_callbacks = channel._access_callbacks = None
        self.call_soon(self._clear_on_server, channel)

    def wait_for_connection(self, channel: ClientChannel, timeout: float | None) -> bool:
        return channel.connected.wait(timeout)

    def read(self, channel: ClientChannel, data_type: int, count: int,
             callback: Callable | None = None, defer: bool = False,
             receive: bool = False) -> Pending:
        """Send a READ_NOTIFY; the returned Pending completes with the response.

        With ``defer`` the request is queued for the I/O thread to write together with
        others (as libca buffers gets until a flush): for many gets issued in a row
        (``ca.get(wait=False)``, caget_many) that waive the wait for the reply.
        With ``receive`` the caller waits for the reply at once (``Pending.wait``, or
        else ``end_receive``): see ``_write_request``.
        """
        pending = Pending(channel, callback)
        circuit = self._connected_circuit(channel)
        with circuit.lock:
            request = self._core_channel(channel, circuit).read(data_type, count)
            pending.ioid = request.ioid
            pending.circuit = circuit
            circuit.pending[request.ioid] = pending
            try:
                data = circuit.prepare(request)
            except Exception:
                circuit.pending.pop(request.ioid, None)
                raise
            first = circuit.queue(data)
        if defer:
            if first:
                self.call_soon(self._flush, circuit)
            return pending
        self._write_request(circuit, pending, receive)
        return pending

    def read_when_connected(self, channel: ClientChannel, count: int | None = None
                            ) -> Pending:
        """A READ_NOTIFY of the channel's native type and ``count`` elements (None: all),
        sent by the I/O thread as soon as the channel is connected (at once if it is).

        For many channels read once (caget_many): each read goes out while the others
        still connect, with no thread hand-off per channel. The read waits for the
        connection as long as it takes: ``forget_read`` drops one no longer wanted.
        """
        if count is not None:
            count = operator.index(count)
            if count < 0:
                raise ValueError(f"count {count} for {channel.name!r}: a number of "
                                 f"elements, 0 or more")
        pending = Pending(channel)
        self.call_soon(self._read_on_connect, channel, pending, count)
        return pending

    def forget_read(self, pending: Pending) -> None:
        """Drop a ``read_when_connected`` whose channel has not connected yet."""
        self.call_soon(self._forget_read, pending)

    def _read_on_connect(self, channel: ClientChannel, pending: Pending,
                         count: int | None) -> None:
        if channel.state == CS_CONN:
            self._send_read(channel, pending, count)
        elif channel.state != CS_CLOSED:
            if channel.reads_on_connect is None:
                channel.reads_on_connect = []
            channel.reads_on_connect.append((pending, count))

    def _forget_read(self, pending: Pending) -> None:
        channel = pending.channel
        if channel.reads_on_connect:
            channel.reads_on_connect = [read for read in channel.reads_on_connect
                                        if read[0] is not pending] or None

    def _send_read(self, channel: ClientChannel, pending: Pending, count: int | None):
        """On the I/O thread: send a read of a connected channel, of its native type."""
        circuit = channel.circuit
        with circuit.lock:
            request = self._core_channel(channel, circuit).read(
                channel.native_type, 0 if count is None else min(count, channel.native_count))
            pending.ioid = request.ioid
            pending.circuit = circuit
            circuit.pending[request.ioid] = pending
            circuit.send(request)

    def write(self, channel: ClientChannel, data, data_type: int, count: int | None,
              notify: bool, callback: Callable | None = None,
              receive: bool = False) -> Pending | None:
        """Send a WRITE (or WRITE_NOTIFY, whose Pending completes when processing ends);
        ``receive`` as for ``read``."""
        circuit = self._connected_circuit(channel)
        if not channel.access_rights & _WRITE:
            raise WriteAccessDenied(f"no write access to {channel.name!r} "
                                     f"(served by {channel.host})")
        pending = Pending(channel, callback) if notify else None
        with circuit.lock:
            request = self._core_channel(channel, circuit).write(data, data_type, count,
                                                                 notify=notify)
            if pending is not None:
                pending.ioid = request.ioid
                pending.circuit = circuit
                circuit.pending[request.ioid] = pending
            try:
                circuit.queue(circuit.prepare(request))
            except Exception:
                if pending is not None:
                    circuit.pending.pop(request.ioid, None)
                raise
        self._write_request(circuit, pending, receive and pending is not None)
        return pending

    def _write_request(self, circuit: Circuit, pending: Pending | None,
                       receive: bool) -> None:
        """Write a request queued under ``circuit.lock``, after letting that lock go.

        The write happens outside ``circuit.lock`` so that the I/O thread can take the
        reply in meanwhile (profiling get round trips showed it blocked on that lock for
        the whole ``sendall``, a quarter of its time); the queue keeps the order.

        With ``receive`` the caller first takes the circuit from the I/O thread, as
        ``wait_for`` does, so that the reply wakes the caller alone: with the I/O thread
        woken too and taking the GIL, a get round trip took 80-100 us instead of 40.
        Holding the circuit, the caller writes only what the socket takes at once.
        """
        try:
            if receive and self._start_reading(circuit):
                pending.reader = threading.get_ident()
                circuit.write_now()
            else:
                circuit.write_queued()
        except BaseException:
            if pending is not None:
                self.end_receive(pending)
                with circuit.lock:
                    circuit.pending.pop(pending.ioid, None)
            raise

    def end_receive(self, pending: Pending) -> None:
        """Give back the circuit a caller took to receive ``pending``'s reply (with
        ``receive=True``), if its wait has not (the wait may not have come)."""
        if pending.reader is not None:
            pending.reader = None
            self._stop_reading(pending.circuit)

    def subscribe(self, channel: ClientChannel, data_type: int | str, count: int, mask: int,
                  callback: Callable) -> Subscription:
        """A monitor; ``callback(message)`` runs on the dispatcher for every update.

        Type, count and mask are checked first: a subscription kept with a value the
        protocol cannot carry used to fail again on every reconnection of its channel.
        """
        _check_subscription(channel, data_type, count, mask)
        subscription = Subscription(channel, data_type, count, mask, callback)
        with self._lock:
            channel.subscriptions.append(subscription)
        circuit = channel.circuit
        if circuit is None:
            return subscription  # it goes out when the channel connects
        try:
            with circuit.lock:
                # Under the circuit's lock the I/O thread is not connecting the channel
                # meanwhile; if it just did, it sent this subscription with the others.
                if channel.circuit is circuit and channel.state == CS_CONN \
                        and subscription.subscriptionid is None and subscription.active:
                    self._send_subscription(circuit, subscription)
        except ChannelAccessError:
            pass  # disconnected meanwhile: it goes out on the next connection
        except Exception:
            self._drop_subscription(subscription)
            raise
        return subscription

    def _drop_subscription(self, subscription: Subscription) -> None:
        with self._lock:
            subscriptions = subscription.channel.subscriptions
            if subscription in subscriptions:
                subscriptions.remove(subscription)

    def unsubscribe(self, subscription: Subscription) -> None:
        if not subscription.active:
            return  # cancelled already: a second EVENT_CANCEL would draw a server error
        subscription.active = False
        channel = subscription.channel
        self._drop_subscription(subscription)
        circuit = channel.circuit
        if circuit is None:
            return
        with circuit.lock:  # the I/O thread sends it under this lock, or not at all
            if subscription.subscriptionid is None:
                return
            circuit.subscriptions.pop(subscription.subscriptionid, None)
            if channel.state == CS_CONN and not circuit.closed and channel.core is not None \
                    and subscription.subscriptionid in channel.core.subscriptions:
                try:
                    circuit.send(channel.core.unsubscribe(subscription.subscriptionid))
                except (ChannelAccessError, ProtocolError) as exc:
                    logger.debug("cancelling %r: %s", subscription, exc)

    def destroy(self) -> None:
        """Close every circuit and stop the threads; the context is unusable after."""
        if not self._running:
            return
        self._running = False
        self._wake()
        if threading.current_thread() is not self._thread:
            self._thread.join(2.0)
        self.dispatcher.stop()

    def abandon(self) -> None:
        """In a forked child: close our copies of the sockets; the threads are gone."""
        self._running = False
        for circuit in list(self.circuits.values()):
            if circuit.sock is not None:
                circuit.sock.close()
        for sock in (self._udp, self._wake_r, self._wake_w):
            sock.close()

    @property
    def running(self) -> bool:
        return self._running

    # --- helpers for callers -----------------------------------------------------------

    def _connected_circuit(self, channel: ClientChannel) -> Circuit:
        circuit = channel.circuit
        if channel.state != CS_CONN or circuit is None or channel.core is None:
            raise ChannelAccessError(f"channel {channel.name!r} is not connected")
        return circuit

    @staticmethod
    def _core_channel(channel: ClientChannel, circuit: Circuit) -> core.Channel:
        """The core channel, checked again under the circuit lock (it may have dropped)."""
        core_channel = channel.core
        if core_channel is None or circuit.closed or channel.circuit is not circuit:
            raise ChannelAccessError(f"channel {channel.name!r} is not connected")
        return core_channel

    def call_soon(self, function, *args) -> None:
        """Run ``function(*args)`` on the I/O thread."""
        with self._calls_lock:
            self._calls.append((function, args))
            first = len(self._calls) == 1
        if first:  # otherwise a wake-up is on its way already (one send() each: ~20 us)
            self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except (BlockingIOError, OSError):
            pass  # already awake, or shutting down

    def _schedule(self, delay: float, function, *args) -> None:
        """On the I/O thread: run ``function(*args)`` after ``delay`` seconds."""
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._timer_sequence),
                                      function, args))

    # --- the I/O thread -----------------------------------------------------------------

    def _run(self) -> None:
        self.io_thread_id = threading.get_ident()
        try:
            while self._running:
                timeout = None
                if self._timers:
                    timeout = max(0.0, self._timers[0][0] - time.monotonic())
                for key, mask in self._selector.select(timeout):
                    try:
                        key.data(key.fileobj, mask)
                    except Exception:
                        logger.exception("error handling I/O on %r", key.fileobj)
                self._run_calls()
                self._run_timers()
                if self._unflushed:
                    self._flush_all()
        finally:
            self._shutdown()

    def _flush_all(self) -> None:
        circuits, self._unflushed = self._unflushed, set()
        for circuit in circuits:
            self._flush(circuit)

    def _flush(self, circuit: Circuit) -> None:
        """Write what the circuit has queued, as far as the socket takes it now."""
        left = circuit.flush()
        if left != circuit.want_write and circuit.connected:
            with circuit.io_lock:
                circuit.want_write = left
                self._set_interest(circuit)

    def _set_interest(self, circuit: Circuit) -> None:
        """Watch the circuit's socket for what is needed now; the caller holds io_lock.

        Replies are left to a caller that receives them itself; writability is watched
        while queued bytes wait. Any thread may call this: selectors keep their map in a
        dict, and the kernel's poller may be changed while another thread waits on it.
        """
        if circuit.closed or circuit.sock is None or circuit.on_event is None:
            return
        events = (0 if circuit.caller_reading else selectors.EVENT_READ) | \
            (selectors.EVENT_WRITE if circuit.want_write else 0)
        watched = circuit.watched
        if events == watched:
            return
        # Tracked here rather than learnt from KeyError: selectors put repr(socket) in
        # that error, and a socket's repr costs a system call.
        circuit.watched = events
        try:
            if not events:
                self._selector.unregister(circuit.sock)
            elif not watched:
                self._selector.register(circuit.sock, events, circuit.on_event)
            else:
                self._selector.modify(circuit.sock, events, circuit.on_event)
        except (KeyError, ValueError, OSError):  # closed meanwhile
            pass

    def _run_calls(self) -> None:
        with self._calls_lock:
            calls, self._calls = self._calls, []
        for function, args in calls:
            try:
                function(*args)
            except Exception:
                logger.exception("error in %r", function)

    def _run_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, function, args = heapq.heappop(self._timers)
            try:
                function(*args)
            except Exception:
                logger.exception("error in timer %r", function)

    def _on_wake(self, sock, mask) -> None:
        try:
            while sock.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _shutdown(self) -> None:
        for circuit in list(self.circuits.values()) + list(self._name_servers.values()):
            self._close_circuit(circuit)
        for sock in (self._udp, self._wake_r, self._wake_w):
            try:
                self._selector.unregister(sock)
            except (KeyError, ValueError):
                pass
            sock.close()
        self._selector.close()

    # --- name resolution ------------------------------------------------------------------

    def _start_search(self, channel: ClientChannel) -> None:
        if channel.state == CS_CLOSED or channel.chid not in self.channels:
            return
        self.search_plan.add(channel.chid, channel)
        self._plan_search_tick(0.0)

    def _plan_search_tick(self, delay: float) -> None:
        when = time.monotonic() + delay
        if when < self._next_search_tick:
            self._next_search_tick = when
            self._schedule(delay, self._search_tick)

    def _search_tick(self) -> None:
        """Send every search that is due, batched into as few datagrams as fit."""
        now = time.monotonic()
        self._next_search_tick = float("inf")
        due = [channel for _, channel in self.search_plan.due(now)]
        if due:
            self._search_sequence = (self._search_sequence + 1) & 0xFFFFFFFF
            requests = [core.SearchRequest(c.name, c.chid) for c in due]
            datagrams = self._broadcaster.search_datagrams(requests, self._search_sequence)
            targets = self._search_targets()
            logger.debug("search for %d names in %d datagrams to %s", len(requests),
                         len(datagrams), targets)
            for address in targets:
                for datagram in datagrams:
                    try:
                        self._udp.sendto(datagram, address)
                    except OSError as exc:
                        logger.debug("search datagram to %s failed: %s", address, exc)
            for circuit in self._name_servers.values():
                if circuit.connected:
                    with circuit.lock:
                        try:
                            circuit.send(*requests)
                        except ChannelAccessError as exc:
                            logger.debug("search via name server failed: %s", exc)
        soonest = self.search_plan.next_due()
        if soonest is not None:
            self._plan_search_tick(max(0.0, soonest - now))

    def _search_targets(self) -> list[tuple[str, int]]:
        """Where searches go, host names resolved once each (as libca does): given a
        name, ``sendto`` asked the resolver at every search, and a slow resolver stalled
        the I/O thread and every circuit with it."""
        targets = []
        for host, port in self.config.search_addresses():
            ip = self._resolved.get(host)
            if ip is None:
                ip = self._resolved[host] = resolve(host)
            if ip and (ip, port) not in targets:  # a name and its address: sent once
                targets.append((ip, port))
        return targets

    def _on_datagram(self, sock, mask) -> None:
        while True:
            try:
                data, address = sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP port unreachable reported on Linux
                logger.debug("UDP receive error: %s", exc)
                continue
            try:
                messages = self._broadcaster.recv(data, address)
            except ProtocolError as exc:
                logger.warning("ignoring bad datagram from %s:%d: %s", *address, exc)
                continue
            for message in messages:
                if isinstance(message, core.SearchResponse):
                    self._on_search_response(message, address)
                elif isinstance(message, core.RsrvIsUpResponse):
                    self._on_beacon(message, address)
                elif isinstance(message, core.RepeaterConfirmResponse):
                    self._repeater_confirmed = True

    # --- beacons ----------------------------------------------------------------------------

    def _register_with_repeater(self) -> None:
        """Ask the host's repeater for beacons; start one if none answers (like libca)."""
        if self._repeater_confirmed or not self._running:
            return
        self._repeater_attempts += 1
        if self._repeater_attempts == 3:
            start_repeater(self.config.repeater_port)
        try:
            self._udp.sendto(bytes(core.RepeaterRegisterRequest("127.0.0.1")),
                             ("127.0.0.1", self.config.repeater_port))
        except OSError as exc:
            logger.debug("repeater registration failed: %s", exc)
        self._schedule(min(0.2 * self._repeater_attempts, 5.0), self._register_with_repeater)

    def _on_beacon(self, beacon: core.RsrvIsUpResponse, sender) -> None:
        """A new or restarted server (beacon ids start again) prompts searching at once."""
        host = sender[0] if beacon.parameter2 in (0, core.ADDRESS_OF_SENDER) \
            else beacon.address
        now = time.monotonic()
        when = self.search_plan.beacon((host, beacon.server_port), beacon.beacon_id, now)
        if when is not None:
            self._schedule(when - now, self._restart_searches)

    def _restart_searches(self) -> None:
        self.search_plan.restart(time.monotonic())
        if self.search_plan.searching:
            self._plan_search_tick(0.0)

    def _on_search_response(self, response: core.SearchResponse, sender) -> None:
        channel = self.search_plan.found(response.cid)
        if channel is None:
            return  # answered already, or cleared meanwhile
        host = sender[0] if response.parameter1 == core.ADDRESS_OF_SENDER else response.ip
        self._attach(channel, (host, response.port))

    def _connect_name_server(self, address: tuple[str, int]) -> None:
        """A TCP circuit to a name server (EPICS_CA_NAME_SERVERS), kept open."""
        if not self._running:
            return
        circuit = Circuit(self, address, 0)
        circuit.name_server = True
        self._name_servers[address] = circuit
        self._connect(circuit)

    # --- circuits ----------------------------------------------------------------------

    def _attach(self, channel: ClientChannel, address: tuple[str, int]) -> None:
        """Put a found channel on the circuit to its server, connecting it if needed."""
        key = (address, channel.priority)
        circuit = self.circuits.get(key)
        if circuit is None or circuit.closed:
            circuit = Circuit(self, address, channel.priority)
            self.circuits[key] = circuit
            self._connect(circuit)
        channel.circuit = circuit
        if circuit.connected:
            self._create_on_circuit(circuit, channel)
        else:
            circuit.waiting.append(channel)

    def _connect(self, circuit: Circuit) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setblocking(False)
        circuit.sock = sock
        error = sock.connect_ex(circuit.address)
        if error not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            self._lose_circuit(circuit, f"connect failed: {os.strerror(error)}")
            return
        self._selector.register(sock, selectors.EVENT_WRITE,
                                functools.partial(self._on_connected, circuit))

    def _on_connected(self, circuit: Circuit, sock, mask) -> None:
        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            self._lose_circuit(circuit, f"connect failed: {os.strerror(error)}")
            return
        # The socket stays non-blocking: the I/O thread never waits for it, and caller
        # threads wait for writability themselves (Circuit.write_queued).
        circuit.on_event = functools.partial(self._on_readable, circuit)
        self._selector.modify(sock, selectors.EVENT_READ, circuit.on_event)
        circuit.watched = selectors.EVENT_READ
        with circuit.lock:
            circuit.connected = True
            circuit.health.connected(time.monotonic())
            circuit.send(core.VersionRequest(priority=circuit.priority),
                         core.HostNameRequest(host_name()),
                         core.ClientNameRequest(user_name()))
            if self.events_held and not circuit.name_server:
                circuit.send(core.EventsOffRequest())
            waiting, circuit.waiting = circuit.waiting, []
            for channel in waiting:
                self._create_on_circuit(circuit, channel)
        if circuit.name_server:
            self.search_plan.search_now()  # search through it at once
            self._plan_search_tick(0.0)

    def _create_on_circuit(self, circuit: Circuit, channel: ClientChannel) -> None:
        if channel.state == CS_CLOSED:
            return
        with circuit.lock:
            channel.core = circuit.core.new_channel(channel.name)
            circuit.channels[channel.core.cid] = channel
            circuit.send(channel.core.create())

    def _on_readable(self, circuit: Circuit, sock, mask) -> None:
        if mask & selectors.EVENT_WRITE:
            self._flush(circuit)
        if not mask & selectors.EVENT_READ:
            return
        if not circuit.reader.acquire(blocking=False):
            return  # a caller is receiving on this circuit (it stopped our watch)
        try:
            self._receive(circuit, sock, on_io_thread=True)
        finally:
            circuit.reader.release()

    def wait_for(self, pending: Pending, timeout: float | None) -> bool:
        """Wait for a request's reply; True once it came, False after ``timeout``.

        The waiting thread receives the reply itself when nobody else is receiving on
        the circuit: handing each reply over from the I/O thread cost two thread
        wake-ups, half of a ``get`` round trip. Messages that only set results or queue
        callbacks are handled here; the first other one (and all after it) goes to the
        I/O thread, in order, together with the circuit.
        """
        done, circuit = pending.done, pending.circuit
        deadline = None if timeout is None else time.monotonic() + bounded(timeout)
        if pending.reader == threading.get_ident():
            pending.reader = None  # taken before the request went out: ours already
        elif not self._start_reading(circuit):
            return done.wait(timeout)
        reading = True
        try:
            while not done.is_set():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                if not _readable(circuit, remaining):
                    continue
                try:
                    reading = self._receive(circuit, circuit.sock, on_io_thread=False)
                except BaseException:
                    # A KeyboardInterrupt (or a bug) halfway through handling what was
                    # received: the messages in it cannot be accounted for, so the circuit
                    # starts afresh (requests on it fail, subscriptions are renewed).
                    reading = self._hand_over(circuit, self._lose_circuit, circuit,
                                              "interrupted while receiving")
                    raise
                if not reading:
                    break  # the I/O thread has the circuit (and the rest) now
                if circuit.closed:
                    break  # closed by the I/O thread: the socket is ours to close
        finally:
            if reading:
                self._stop_reading(circuit)
        if done.is_set():
            return True
        return done.wait(None if deadline is None else deadline - time.monotonic())

    def _start_reading(self, circuit: Circuit) -> bool:
        """A caller takes the circuit from the I/O thread to receive on it; False if it
        cannot (the I/O thread itself, another caller receiving, a closed circuit)."""
        if threading.get_ident() == self.io_thread_id or \
                not circuit.reader.acquire(blocking=False):
            return False
        with circuit.io_lock:
            usable = not circuit.closed and circuit.on_event is not None
            if usable:
                circuit.caller_reading = True
                self._set_interest(circuit)
        if not usable:
            circuit.reader.release()
        return usable

    def _stop_reading(self, circuit: Circuit) -> None:
        """A caller is done receiving: the I/O thread watches the socket again."""
        with circuit.io_lock:
            circuit.caller_reading = False
            if circuit.closed:
                circuit.sock.close()  # closed by the I/O thread while we read
            else:
                self._set_interest(circuit)
        circuit.reader.release()

    def _hand_over(self, circuit: Circuit, function, *args) -> bool:
        """From a reading caller: the I/O thread runs ``function(*args)``, then takes the
        circuit back (the caller stops reading; the reader lock goes along). False."""
        def run():
            try:
                function(*args)
            finally:
                self._stop_reading(circuit)
        self.call_soon(run)
        return False

    def _handle(self, circuit: Circuit, messages: list) -> None:
        """On the I/O thread: handle messages that a reading caller passed on."""
        with circuit.lock:
            if not circuit.closed:
                self._dispatch(circuit, messages, on_io_thread=True)

    def _receive(self, circuit: Circuit, sock, on_io_thread: bool) -> bool:
        """Receive what the socket holds and handle it; the caller holds circuit.reader.

        On a caller thread, whatever only the I/O thread may do (losing the circuit, a
        message that changes channels or circuits) is handed over to it: then False.
        """
        try:
            if circuit.large is not None:
                data = self._receive_large(circuit, sock)
                if data is None:
                    return True
            else:
                data = sock.recv(RECEIVE_SIZE)
        except (BlockingIOError, InterruptedError, socket.timeout):
            return True
        except OSError as exc:
            return self._give_up(circuit, f"receive failed: {exc}", on_io_thread)
        if not data:
            if on_io_thread:
                self._on_closed_by_server(circuit)
                return True
            return self._hand_over(circuit, self._on_closed_by_server, circuit)
        circuit.health.heard(time.monotonic())
        with circuit.lock:
            if circuit.closed:
                return True  # closed while a caller received (the context stopped): dropped
            try:
                messages = circuit.core.recv(data)
            except ProtocolError as exc:
                logger.error("protocol error from %s:%d, closing the circuit: %s",
                             *circuit.address, exc)
                return self._give_up(circuit, f"protocol error: {exc}", on_io_thread)
            handled = self._dispatch(circuit, messages, on_io_thread)
            size = circuit.core.next_message_size()
            if size is not None and size >= LARGE_MESSAGE:
                # The header is in and it announces a large payload (already checked
                # against EPICS_CA_MAX_ARRAY_BYTES): receive the rest in place.
                partial = circuit.core.take_partial()
                circuit.large = _uninitialized(size)
                circuit.large[:len(partial)] = partial
                circuit.large_filled = len(partial)
        if not self.events_held:
            if flow.should_hold(self.dispatcher.backlog(), self.dispatcher.lag):
                if on_io_thread:
                    self._hold_events()
                else:
                    self.call_soon(self._hold_events)
        if handled is None:  # a bad message: the circuit is lost
            return self._give_up(circuit, "bad message", on_io_thread)
        if handled < len(messages):
            return self._hand_over(circuit, self._handle, circuit, messages[handled:])
        return True

    def _give_up(self, circuit: Circuit, reason: str, on_io_thread: bool) -> bool:
        """Lose the circuit, from _receive: at once on the I/O thread (True: it goes on);
        a caller hands that over to the I/O thread and stops receiving (False)."""
        if on_io_thread:
            self._lose_circuit(circuit, reason)
            return True
        return self._hand_over(circuit, self._lose_circuit, circuit, reason)

    def _dispatch(self, circuit: Circuit, messages: list, on_io_thread: bool) -> int | None:
        """Run the handlers of messages in order (the caller holds circuit.lock); how many
        ran. A caller thread stops at the first that only the I/O thread may handle.
        None: a message the core let through could not be used."""
        handlers = self._HANDLERS if on_io_thread else self._CALLER_HANDLERS
        # Monitor updates go to the dispatcher in one batch (one queue operation, one
        # wake-up), handed over before any other callback these messages bring, so that
        # callbacks keep the order of their messages.
        updates = []
        subscriptions = circuit.subscriptions
        try:
            for index, message in enumerate(messages):
                cls = type(message)
                if cls is _UPDATE:
                    # parameter2 is the subscriptionid (the slot, without the property)
                    subscription = subscriptions.get(message.parameter2)
                    if subscription is not None and subscription.active:
                        updates.append((subscription.callback, message))
                    continue
                handler = handlers.get(cls)
                if handler is None:
                    if on_io_thread or cls not in self._HANDLERS:
                        continue  # nothing to do for it
                    return index
                if updates:
                    self.dispatcher.call_batch(updates)
                    updates = []
                try:
                    handler(self, circuit, message)
                except Exception as exc:
                    logger.error("bad message from %s:%d, closing the circuit: %r: %s",
                                 *circuit.address, message, exc)
                    return None
            return len(messages)
        finally:
            if updates:
                self.dispatcher.call_batch(updates)

    def _receive_large(self, circuit: Circuit, sock) -> memoryview | bytes | None:
        """Fill the large message's buffer; return it once complete, b"" at the end of
        the stream, else None."""
        buffer = circuit.large
        while circuit.large_filled < len(buffer):
            try:
                count = sock.recv_into(buffer[circuit.large_filled:], 0, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return None
            if not count:
                return b""
            circuit.large_filled += count
        circuit.large = None
        return buffer

    def _hold_events(self) -> None:
        """Callbacks are behind: ask every server to hold monitor updates until they
        catch up (libca's flow control), so that memory does not grow without bound."""
        if self.events_held:
            return
        self.events_held = True
        logger.info("%d callbacks waiting: asking servers to hold monitor updates",
                    self.dispatcher.backlog())
        self._send_to_all(core.EventsOffRequest())
        self.dispatcher.notify_below(flow.resume_below(),
                                     lambda: self.call_soon(self._resume_events))

    def _resume_events(self) -> None:
        if self.events_held:
            self.events_held = False
            logger.info("callbacks caught up: asking servers for monitor updates again")
            self._send_to_all(core.EventsOnRequest())

    def _send_to_all(self, message: core.Message) -> None:
        for circuit in list(self.circuits.values()):
            if circuit.connected and not circuit.closed:
                with circuit.lock:
                    try:
                        circuit.send(message)
                    except (ChannelAccessError, ProtocolError) as exc:
                        logger.debug("%r: %s", circuit, exc)

    def _on_closed_by_server(self, circuit: Circuit) -> None:
        """End of stream: normal between messages, an error in the middle of one."""
        if circuit.large is not None:
            received, expected = circuit.large_filled, len(circuit.large)
        else:
            received, expected = circuit.core.buffered, circuit.core.next_message_size()
        if received:
            logger.error("server %s:%d closed the connection in the middle of a message "
                         "(truncated after %d of %s bytes)", *circuit.address, received,
                         expected if expected is not None else "?")
        self._lose_circuit(circuit, "server closed the connection" +
                           (" mid-message" if received else ""))

    # --- what the server tells us -----------------------------------------------------------

    def _on_access_rights(self, circuit: Circuit, message) -> None:
        channel = circuit.channels.get(message.cid)
        if channel is None:
            return
        channel.access_rights = message.parameter2 & (_READ | _WRITE)  # without an IntFlag
        if channel.state == CS_CONN and _has_listeners(channel):
            self.dispatcher.call(_run_access_callbacks, channel)

    def _on_create_response(self, circuit: Circuit, message) -> None:
        channel = circuit.channels.get(message.cid)
        if channel is None:
            return
        if not 0 <= message.data_type <= core.ChannelType.DOUBLE:
            raise core.RemoteProtocolError(f"channel {channel.name!r}: native type "
                                           f"{message.data_type} is not one of 0..6")
        with self._lock:  # not while a caller clears it
            if channel.state == CS_CLOSED:
                return  # cleared meanwhile: _clear_on_server follows
            channel.native_type = message.data_type
            channel.native_count = message.data_count
            channel.state = CS_CONN
            subscriptions = list(channel.subscriptions)
        channel.connected.set()
        reads, channel.reads_on_connect = channel.reads_on_connect, None
        for pending, count in reads or ():
            self._send_read(channel, pending, count)
        for subscription in subscriptions:
            if not subscription.active:
                continue  # cancelled by a caller meanwhile
            try:
                self._send_subscription(circuit, subscription)
            except (ValueError, TypeError, OverflowError, ProtocolError) as exc:
                logger.error("dropping subscription %r of %r: %s", subscription,
                             channel.name, exc)
                subscription.active = False
                self._drop_subscription(subscription)
        if _connection_wanted(channel, True):
            # One call for both: half the hand-offs when 2,000 channels connect at once.
            self.dispatcher.call(_run_connection_callbacks, channel, True, True)

    def _notify_connection(self, channel: ClientChannel, connected: bool) -> None:
        if _connection_wanted(channel, connected):
            self.dispatcher.call(_run_connection_callbacks, channel, connected, False)

    def _send_subscription(self, circuit: Circuit, subscription: Subscription) -> None:
        channel = subscription.channel
        data_type = subscription.data_type
        if isinstance(data_type, str):
            data_type = core.promote(channel.native_type, data_type)
        request = channel.core.subscribe(data_type, subscription.count, subscription.mask)
        subscription.subscriptionid = request.subscriptionid
        circuit.subscriptions[request.subscriptionid] = subscription
        circuit.send(request)

    def _on_create_failed(self, circuit: Circuit, message) -> None:
        channel = circuit.channels.pop(message.cid, None)
        if channel is not None:
            logger.warning("server %s:%d refused channel %r; searching again",
                           *circuit.address, channel.name)
            self._disconnect_channel(channel, retry_after=1.0)

    def _on_server_disconnect(self, circuit: Circuit, message) -> None:
        channel = circuit.channels.pop(message.cid, None)
        if channel is not None:
            logger.info("server %s:%d dropped channel %r", *circuit.address, channel.name)
            self._fail_pending(circuit, channel, "the server dropped the channel")
            self._disconnect_channel(channel)

    def _on_data(self, circuit: Circuit, message) -> None:
        pending = circuit.pending.pop(message.ioid, None)
        if pending is None:
            return
        message.detach()  # kept (the last result of a get): not its whole buffer
        pending.result = message
        if message.status != core.EcaStatus.ECA_NORMAL:
            pending.error = core.eca_message(message.status)
        pending.done.set()
        if pending.callback is not None:
            self.dispatcher.call(pending.callback, pending)

    def _on_error(self, circuit: Circuit, message) -> None:
        failed = message.original_request
        text = message.error_message or core.eca_message(message.status)
        channel = circuit.channels.get(message.cid)
        name = channel.name if channel else f"cid {message.cid}"
        logger.warning("server %s:%d reported an error for %s: %s (%r)", *circuit.address,
                       name, text, failed)
        pending = circuit.pending.pop(getattr(failed, "ioid", None), None)
        if pending is not None:
            pending.error = text
            pending.done.set()
            if pending.callback is not None:
                self.dispatcher.call(pending.callback, pending)

    def _on_echo(self, circuit: Circuit, message) -> None:
        circuit.health.heard(time.monotonic())

    def _on_tcp_search_response(self, circuit: Circuit, message) -> None:
        self._on_search_response(message, circuit.address)

    _HANDLERS = {
        core.AccessRightsResponse: _on_access_rights,
        core.CreateChanResponse: _on_create_response,
        core.CreateChFailResponse: _on_create_failed,
        core.ServerDisconnResponse: _on_server_disconnect,
        core.ReadNotifyResponse: _on_data,
        core.WriteNotifyResponse: _on_data,
        core.ErrorResponse: _on_error,
        core.EchoResponse: _on_echo,
        core.SearchResponse: _on_tcp_search_response,
    }
    #: What a caller receiving its own reply may handle itself: results and callbacks
    #: to queue. The rest changes channels, circuits or timers: the I/O thread's work.
    _CALLER_HANDLERS = {
        core.ReadNotifyResponse: _on_data,
        core.WriteNotifyResponse: _on_data,
        core.AccessRightsResponse: _on_access_rights,
        core.ErrorResponse: _on_error,
        core.EchoResponse: _on_echo,
    }

    # --- losing things ---------------------------------------------------------------------

    def _disconnect_channel(self, channel: ClientChannel, retry_after: float = 0.0) -> None:
        was_connected = channel.state == CS_CONN
        channel.circuit = None
        channel.core = None
        channel.connected.clear()
        if channel.state != CS_CLOSED:
            channel.state = CS_PREV_CONN if was_connected else CS_NEVER_CONN
        if was_connected:
            self._notify_connection(channel, False)
        if channel.state != CS_CLOSED and channel.chid in self.channels:
            self._schedule(retry_after, self._start_search, channel)

    def _fail_pending(self, circuit: Circuit, channel: ClientChannel | None, reason: str):
        for ioid, pending in list(circuit.pending.items()):
            if channel is None or pending.channel is channel:
                del circuit.pending[ioid]
                pending.error = reason
                pending.done.set()
                if pending.callback is not None:
                    self.dispatcher.call(pending.callback, pending)

    def _lose_circuit(self, circuit: Circuit, reason: str) -> None:
        if circuit.closed:
            return
        logger.info("circuit to %s:%d lost: %s", *circuit.address, reason)
        self._close_circuit(circuit)
        if circuit.name_server and self._running:
            self._schedule(5.0, self._connect_name_server, circuit.address)
        self._fail_pending(circuit, None, f"connection to {circuit.address[0]}:"
                                          f"{circuit.address[1]} lost ({reason})")
        channels = list(circuit.channels.values()) + circuit.waiting
        circuit.channels.clear()
        circuit.waiting.clear()
        retry_after = self._retry.delay_after_loss(circuit.address, circuit.health,
                                                   time.monotonic())
        for channel in channels:
            self._disconnect_channel(channel, retry_after=retry_after)

    def _close_circuit(self, circuit: Circuit) -> None:
        with circuit.lock:
            if circuit.connected and circuit.outgoing:
                self._flush(circuit)  # e.g. channel clears queued just before
            circuit.closed = True
            circuit.connected = False
            if self.circuits.get((circuit.address, circuit.priority)) is circuit:
                del self.circuits[(circuit.address, circuit.priority)]
            if circuit.sock is not None:
                with circuit.io_lock:
                    try:
                        self._selector.unregister(circuit.sock)
                    except (KeyError, ValueError):
                        pass
                    if circuit.caller_reading:
                        _shutdown(circuit.sock)  # wakes the caller, who closes it
                    else:
                        circuit.sock.close()
            if circuit.core.state is not core.CircuitState.DISCONNECTED:
                circuit.core.disconnect()

    def _clear_on_server(self, channel: ClientChannel) -> None:
        self.search_plan.found(channel.chid)
        channel.reads_on_connect = None
        circuit = channel.circuit
        if circuit is None:
            return
        with circuit.lock:
            if channel in circuit.waiting:
                circuit.waiting.remove(channel)
            core_channel = channel.core
            if core_channel is not None and core_channel.state is core.ChannelState.CONNECTED \
                    and circuit.connected:
                try:
                    circuit.send(core_channel.clear())
                except (ChannelAccessError, ProtocolError) as exc:
                    logger.debug("clearing %r: %s", channel.name, exc)
            if core_channel is not None:
                circuit.channels.pop(core_channel.cid, None)
                for subscriptionid in list(core_channel.subscriptions):
                    circuit.subscriptions.pop(subscriptionid, None)
        channel.circuit = None
        channel.core = None
        channel.connected.clear()

    def _check_circuits(self) -> None:
        """Every second: echo silent circuits, drop unresponsive or unconnectable ones."""
        now = time.monotonic()
        for circuit in list(self.circuits.values()) + list(self._name_servers.values()):
            if circuit.closed:
                continue
            action = circuit.health.check(now, self.config.connection_timeout)
            if action == SEND_ECHO:
                with circuit.lock:
                    try:
                        circuit.send(core.EchoRequest())
                        circuit.health.echo_sent(now)
                    except ChannelAccessError:
                        pass
            elif action is not None:
                self._lose_circuit(circuit, action)
        self._schedule(1.0, self._check_circuits)


def _has_callbacks(channel: ClientChannel) -> bool:
    """Whether the channel has callbacks of its own (without making the lists, as the
    properties would)."""
    return bool(channel._connection_callbacks) or bool(channel._access_callbacks)


def _has_listeners(channel: ClientChannel) -> bool:
    """Whether anybody is told of the channel's connection and access changes."""
    return channel.listener is not None or _has_callbacks(channel)


def _connection_wanted(channel: ClientChannel, connected: bool) -> bool:
    """Tell the listener of a connection change, on the I/O thread; whether anybody is
    to be called on the dispatcher. (A dispatcher call per channel when 2,000 connect
    for caget_many, which registers no callback, cost 5% of its time.)"""
    listener = channel.listener
    return (listener is not None and listener.connection_noted(connected)) or \
        _has_callbacks(channel)


def _run_connection_callbacks(channel: ClientChannel, connected: bool,
                              with_access: bool) -> None:
    """On the dispatcher: a channel's listener and connection callbacks, then (on
    connection) its access callbacks; one raising does not keep the others from running."""
    listener = channel.listener
    _run_each("connection", channel, None if listener is None else listener.channel_connection,
              channel._connection_callbacks, connected)
    if with_access:
        _run_access_callbacks(channel)


def _run_access_callbacks(channel: ClientChannel) -> None:
    listener = channel.listener
    _run_each("access", channel, None if listener is None else listener.channel_access,
              channel._access_callbacks, bool(channel.access_rights & _READ),
              bool(channel.access_rights & _WRITE))


def _run_each(kind: str, channel: ClientChannel, first, callbacks, *args) -> None:
    """``first`` (the listener's method, or None), then each of ``callbacks``, as
    f(channel, *args); one raising is logged and does not stop the others."""
    for callback in ([first] if first is not None else []) + list(callbacks or ()):
        try:
            callback(channel, *args)
        except Exception:
            logger.exception("%s callback %r of %r raised", kind, callback, channel.name)


def _check_subscription(channel: ClientChannel, data_type, count, mask) -> None:
    """TypeError or ValueError, naming the channel, for what a subscription cannot carry."""
    what = f"subscription to {channel.name!r}"
    try:
        if isinstance(data_type, str):
            core.promote(core.ChannelType.DOUBLE, data_type)  # an unknown family raises
        else:
            core.dbr_type(data_type)  # no DBR type raises
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{what}: {exc}") from None
    for name, value, top in (("element count", count, 0xFFFFFFFF),
                             ("event mask", mask, 0xFFFF)):
        if not hasattr(value, "__index__"):
            raise TypeError(f"{what}: the {name} must be an integer, not {value!r}")
        if not 0 <= value <= top:
            raise ValueError(f"{what}: {name} {value} is outside 0..{top:#x}")
    if not mask & 0xF:
        raise ValueError(f"{what}: event mask {mask:#x} selects none of DBE_VALUE, "
                         f"DBE_LOG, DBE_ALARM, DBE_PROPERTY")


def _readable(circuit: Circuit, timeout: float | None) -> bool:
    """Wait until the circuit's socket has data (or ``timeout`` passes); poll has no fd
    limit, and the poll object is kept for the next reader of the circuit."""
    if timeout is not None:
        timeout = min(timeout, 3600.0)  # poll and select refuse huge timeouts; loop
    if hasattr(select, "poll"):
        if circuit.poller is None:
            circuit.poller = select.poll()
            circuit.poller.register(circuit.sock, select.POLLIN)
        return bool(circuit.poller.poll(None if timeout is None else timeout * 1000.0))
    return bool(select.select([circuit.sock], [], [], timeout)[0])


def _uninitialized(size: int) -> memoryview:
    """A writable byte buffer for a large message: numpy's is not zero-filled first
    (bytearray's is, a pass over 8 MB that recv_into then overwrites)."""
    try:
        import numpy
    except ImportError:
        return memoryview(bytearray(size))
    return memoryview(numpy.empty(size, numpy.uint8))


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _wait_writable(sock: socket.socket, timeout: float) -> None:
    """Wait until ``sock`` can take data (or ``timeout`` passes); poll has no fd limit."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLOUT)
        poller.poll(max(0.0, timeout) * 1000.0)
    else:
        select.select([], [sock], [], max(0.0, timeout))
