"""The client context: one I/O thread that resolves names and runs every TCP circuit.

Threads that call get/put write their request to the circuit's socket themselves (under
the circuit's lock). While one waits for its reply, it receives on that circuit itself
if nobody else is (the I/O thread stops watching the socket meanwhile): one request, one
response, no thread hand-off. It handles only replies and monitor updates; anything
else goes to the I/O thread with the circuit, in order. A waiter that cannot receive
waits on an event set by whoever handles its reply. Everything that concerns user code
(connections, monitor updates, put completions) goes to the dispatcher thread, so a
slow callback never stalls a socket reader.

``Context`` here is the API the ca and pv modules use, what its I/O thread does after
each round (writing what was queued) and flow control; the I/O thread is an
``_event_loop.EventLoop`` (poller, calls, timers), and the other work is in modules of
its own: searching and beacons (``_searching``), connecting and receiving on circuits
(``_receiving``), what messages and losses do (``_handling``), a circuit's socket and
queue (``_tcp_circuit``) and the records it keeps (``_channels``). The decisions that need
no I/O are the engine's (``epics_compat.engine``), among them what a circuit carries.

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
  outgoing queue and what the event loop watches.

Lock order, outermost first: ``reader``, circuit ``lock``, context ``_lock``, then
``send_lock`` before ``queue_lock``; ``io_lock`` and ``sync.flag_lock`` are leaves (nothing
is taken while one is held).
The RLocks are reentrant because the garbage collector may run ``PV.__del__`` (which
unsubscribes) on a thread that holds one.
"""
from __future__ import annotations

import itertools
import logging
import operator
import os
import selectors
import socket
import threading
import time
from typing import Callable

import caproto_core as core
from caproto_core import CLIENT, ProtocolError

from ._channels import (CS_CLOSED, CS_CONN, CS_NEVER_CONN, CS_PREV_CONN, WRITE_ACCESS,
                        ChannelAccessError, ChannelListener, ClientChannel, Pending,
                        Subscription, WriteAccessDenied)
from ._config import Config
from ._dispatch import Dispatcher
from ._event_loop import EventLoop
from ._handling import MessageHandling
from ._receiving import CircuitIO
from ._searching import Searching
from ._tcp_circuit import Circuit
from .engine import RepeaterRegistration, RetryPolicy, SearchPlan, flow

#: What the API layers (ca, pv) use of the client: the context, its channels and
#: requests, the channel states and the errors.
__all__ = ["Context", "ClientChannel", "ChannelListener", "Pending", "Subscription",
           "ChannelAccessError", "WriteAccessDenied", "CS_NEVER_CONN", "CS_PREV_CONN", "CS_CONN", "CS_CLOSED"]

logger = logging.getLogger("epics_compat.context")


class Context(Searching, CircuitIO, MessageHandling):
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
        self.loop = EventLoop(f"epics_compat-io-{self.id}", after_round=self._flush_all,
                              on_exit=self._shutdown)
        self.search_plan: SearchPlan[ClientChannel] = SearchPlan(
            self.config.max_search_period, time.monotonic())
        self._search_sequence = 0
        self._next_search_tick = float("inf")
        self._broadcaster = core.Broadcaster(CLIENT)
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        self._udp.bind(("", 0))
        self._udp.setblocking(False)
        self.loop.register(self._udp, selectors.EVENT_READ, self._on_datagram)
        self._resolved: dict[str, str] = {}  # host in the address list -> IPv4 or ''
        self._search_targets()  # names are resolved now, on the caller's thread
        self.dispatcher = Dispatcher(f"epics_compat-callbacks-{self.id}", preemptive)
        self._running = True
        self._unflushed: set[Circuit] = set()  # circuits with queued bytes (I/O thread)
        self.repeater_registration = RepeaterRegistration()
        self.loop.call_later(1.0, self._check_circuits)
        self.loop.call_soon(self._register_with_repeater)
        self._name_servers: dict[tuple, Circuit] = {}
        self._retry = RetryPolicy()  # for servers whose circuits were lost young
        self.events_held = False  # flow control: servers asked to hold monitor updates
        for address in self.config.name_servers:
            self.loop.call_soon(self._connect_name_server, address)
        self.loop.start()  # last: the I/O thread reads every attribute set above

    def __repr__(self) -> str:
        searches = " ".join("%s:%d" % address for address in self._search_targets())
        return (f"<Context {self.id} channels={len(self.channels)} "
                f"circuits={len(self.circuits)} searches to {searches or 'nowhere'}>")

    # --- public API used by the ca module ---------------------------------------------

    def create_channel(self, name: str, priority: int = 0, *,
                       connection_callback: Callable | None = None,
                       access_callback: Callable | None = None,
                       listener: ChannelListener | None = None) -> ClientChannel:
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
        self.loop.call_soon(self._start_search, channel)
        return channel

    def clear_channel(self, channel: ClientChannel) -> None:
        """Forget a channel: clear it on its server, drop its subscriptions."""
        with self._lock:  # closed for good: the I/O thread connects no closed channel
            self.channels.pop(channel.chid, None)
            channel.state = CS_CLOSED
            channel.subscriptions.clear()
        channel.listener = None
        channel._connection_callbacks = channel._access_callbacks = None
        self.loop.call_soon(self._clear_on_server, channel)

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
                self.loop.call_soon(self._flush, circuit)
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
        self.loop.call_soon(self._read_on_connect, channel, pending, count)
        return pending

    def forget_read(self, pending: Pending) -> None:
        """Drop a ``read_when_connected`` whose channel has not connected yet."""
        self.loop.call_soon(self._forget_read, pending)

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
        assert circuit is not None  # connected
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
        if not channel.access_rights & WRITE_ACCESS:
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
            if receive and pending is not None and self._start_reading(circuit):
                pending.reader = threading.get_ident()
                circuit.write_now()
            else:
                circuit.write_queued()
        except BaseException:
            if pending is not None:
                self.end_receive(pending)
                with circuit.lock:
                    if pending.ioid is not None:
                        circuit.pending.pop(pending.ioid, None)
            raise

    def end_receive(self, pending: Pending) -> None:
        """Give back the circuit a caller took to receive ``pending``'s reply (with
        ``receive=True``), if its wait has not (the wait may not have come)."""
        if pending.reader is not None and pending.circuit is not None:
            pending.reader = None
            self._stop_reading(pending.circuit)

    def subscribe(self, channel: ClientChannel, data_type: int | str, count: int, mask: int,
                  callback: Callable, keeps_at_once: bool = False) -> Subscription:
        """A monitor; ``callback(message)`` runs on the dispatcher for every update.

        With ``keeps_at_once``, ``callback.keep_at_once(message)`` is first offered each
        update on the thread that received it, when none of this subscription's updates
        wait for the callback: it returns True if it has dealt with the update (then
        nothing is queued). It runs under the circuit's lock, so it must be quick and
        must not block.

        Type, count and mask are checked first: a subscription kept with a value the
        protocol cannot carry used to fail again on every reconnection of its channel.
        """
        _check_subscription(channel, data_type, count, mask)
        subscription = Subscription(channel, data_type, count, mask, callback, keeps_at_once)
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
        self.loop.stop(2.0)
        self.dispatcher.stop()

    def abandon(self) -> None:
        """In a forked child: close our copies of the sockets; the threads are gone."""
        self._running = False
        for circuit in list(self.circuits.values()):
            if circuit.sock is not None:
                circuit.sock.close()
        self._udp.close()
        self.loop.abandon()

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
        self.loop.call_soon(function, *args)

    # --- the I/O thread -----------------------------------------------------------------

    def _flush_all(self) -> None:
        """After each round of the I/O thread: write what its work queued."""
        if not self._unflushed:
            return
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
        while queued bytes wait. Any thread may call this: the poller keeps its map in a
        dict, and the kernel's poller may be changed while another thread waits on it.
        """
        if circuit.closed or circuit.sock is None or circuit.on_event is None:
            return
        events = (0 if circuit.caller_reading else selectors.EVENT_READ) | \
            (selectors.EVENT_WRITE if circuit.want_write else 0)
        try:
            # Registered since it connected; 0 keeps it so, and the poller makes no
            # system call when nothing changes (see _poller).
            self.loop.modify(circuit.sock, events, circuit.on_event)
        except (KeyError, ValueError, OSError):  # closed meanwhile
            pass

    def _shutdown(self) -> None:
        for circuit in list(self.circuits.values()) + list(self._name_servers.values()):
            self._close_circuit(circuit)
        self.loop.unregister(self._udp)
        self._udp.close()
        self.loop.close()

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
                                     lambda: self.loop.call_soon(self._resume_events))

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
