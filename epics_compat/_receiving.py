"""The threaded client's circuits at work: connecting them, and receiving and dispatching
what they bring, on the I/O thread or on a caller that waits for its own reply."""
from __future__ import annotations

import errno
import functools
import logging
import os
import select
import selectors
import socket
import threading
import time
from typing import Any

import caproto_core as core
from caproto_core import ProtocolError

from ._context_part import ContextPart
from ._channels import ClientChannel, Pending
from ._large_buffers import RECEIVE_SIZE, LargeMessage
from ._tcp_circuit import Circuit
from .engine import flow
from .host import host_name, user_name
from .sync import bounded

logger = logging.getLogger("epics_compat.context")


_UPDATE = core.EventAddResponse
#: Each receiving thread's buffer (see _inbox).
_local = threading.local()


def _inbox() -> memoryview:
    """The calling thread's receive buffer: what a socket holds is received into it and
    copied out at once. recv(size) allocated size bytes at each call (an mmap, a
    shrinking mremap and a munmap per reply), and one buffer per circuit would keep
    256 kB resident for each server; a thread receives on one circuit at a time."""
    view = getattr(_local, "inbox", None)
    if view is None:
        view = _local.inbox = memoryview(bytearray(RECEIVE_SIZE))
    return view


class CircuitIO(ContextPart):
    """Context methods that connect circuits and receive on them."""

    def _attach(self, channel: ClientChannel, address: tuple[str, int]) -> None:
        """Put a found channel on the circuit to its server, connecting it if needed."""
        key = (address, channel.priority)
        circuit = self.circuits.get(key)
        if circuit is None or circuit.closed:
            circuit = Circuit(self, address, channel.priority)
            self.circuits[key] = circuit
            self._connect(circuit)
        channel.circuit = circuit
        with circuit.lock:
            creation = circuit.carry(channel)
            if creation:
                circuit.send(*creation)

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
        self.loop.register(sock, selectors.EVENT_WRITE,
                           functools.partial(self._on_connected, circuit))

    def _on_connected(self, circuit: Circuit, mask: int) -> None:
        sock = circuit.sock
        assert sock is not None  # registered by _connect
        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            self._lose_circuit(circuit, f"connect failed: {os.strerror(error)}")
            return
        # The socket stays non-blocking: the I/O thread never waits for it, and caller
        # threads wait for writability themselves (Circuit.write_queued).
        circuit.on_event = functools.partial(self._on_readable, circuit)
        self.loop.modify(sock, selectors.EVENT_READ, circuit.on_event)
        with circuit.lock:
            circuit.health.connected(time.monotonic())
            circuit.send(*circuit.greeting(host_name(), user_name(),
                                           self.events_held and not circuit.name_server))
        if circuit.name_server:
            self.search_plan.search_now()  # search through it at once
            self._plan_search_tick(0.0)

    def _on_readable(self, circuit: Circuit, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            self._flush(circuit)
        if not mask & selectors.EVENT_READ:
            return
        if not circuit.reader.acquire(blocking=False):
            return  # a caller is receiving on this circuit (it stopped our watch)
        try:
            self._receive(circuit, circuit.sock, on_io_thread=True)
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
        if circuit is None:  # not sent yet (read_when_connected): the I/O thread answers
            return done.wait(timeout)
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
        if threading.get_ident() == self.loop.thread_id or \
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
            if circuit.closed and circuit.sock is not None:
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
        self.loop.call_soon(run)
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
        large = circuit.large
        try:
            if large is not None:
                data = _receive_large(large, sock)
                if data is None:
                    return True
            else:
                # The messages keep bytes of their own: a copy of what came.
                inbox = _inbox()
                data = bytes(inbox[:sock.recv_into(inbox)])
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
                if large is not None:
                    circuit.large = None
                    messages = large.parse(circuit.core)
                else:
                    messages = circuit.core.recv(data)
            except ProtocolError as exc:
                logger.error("protocol error from %s:%d, closing the circuit: %s",
                             *circuit.address, exc)
                return self._give_up(circuit, f"protocol error: {exc}", on_io_thread)
            handled = self._dispatch(circuit, messages, on_io_thread)
            # A large message begun: the rest is received in place.
            circuit.large = LargeMessage.starting(circuit.core, circuit.large_buffers)
        if not self.events_held:
            if flow.should_hold(self.dispatcher.backlog(), self.dispatcher.lag):
                if on_io_thread:
                    self._hold_events()
                else:
                    self.loop.call_soon(self._hold_events)
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
        None: a message the core let through could not be used.

        Requests answered here are marked done at the end, after every update among these
        messages is queued: a waiter woken by its reply finds the updates that came with
        it (before or after it) queued already, so one marker on the dispatcher lets
        them run first (see _pv_context.settle_callbacks).
        """
        handlers = self._HANDLERS if on_io_thread else self._CALLER_HANDLERS
        # Monitor updates go to the dispatcher in one batch (one queue operation, one
        # wake-up), handed over before any other callback these messages bring, so that
        # callbacks keep the order of their messages.
        updates: list[tuple] = []  # (callback, message)
        subscriptions = circuit.subscriptions
        try:
            for index, message in enumerate(messages):
                cls = type(message)
                if cls is _UPDATE:
                    # parameter2 is the subscriptionid (the slot, without the property)
                    subscription = subscriptions.get(message.parameter2)
                    if subscription is None or not subscription.active:
                        continue
                    if subscription.keeps_at_once:
                        keeper: Any = subscription.callback  # see Context.subscribe
                        if not subscription.queued_in and keeper.keep_at_once(message):
                            continue  # dealt with on this thread
                        subscription.queued_in = updates
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
            if circuit.completed:
                for pending in circuit.completed:
                    pending.done.set()
                circuit.completed.clear()


def _receive_large(large: LargeMessage, sock) -> memoryview | bytes | None:
    """Receive the rest of a large message; its buffer once complete, b"" at the end of
    the stream, else None. Each time the socket runs dry, the numbers that came are
    converted while the server sends the rest."""
    while not large.complete:
        try:
            count = sock.recv_into(large.room, 0, socket.MSG_DONTWAIT)
        except BlockingIOError:
            large.convert()
            return None
        if not count:
            return b""
        large.filled += count
    return large.buffer


def _readable(circuit: Circuit, timeout: float | None) -> bool:
    """Wait until the circuit's socket has data (or ``timeout`` passes); poll has no fd
    limit, and the poll object is kept for the next reader of the circuit."""
    if timeout is not None:
        timeout = min(timeout, 3600.0)  # poll and select refuse huge timeouts; loop
    sock = circuit.sock
    assert sock is not None  # a circuit being read is connected
    if hasattr(select, "poll"):
        poller = circuit.poller
        if poller is None:
            poller = circuit.poller = select.poll()
            poller.register(sock, select.POLLIN)
        return bool(poller.poll(None if timeout is None else timeout * 1000.0))
    return bool(select.select([sock], [], [], timeout)[0])
