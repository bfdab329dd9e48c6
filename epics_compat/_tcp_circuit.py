"""One TCP circuit of the threaded client: its socket, its locks and its outgoing queue.

Callers write their own requests (under the circuit's lock, in the order the core
recorded them); what a socket does not take at once waits in the queue for the I/O
thread. See ``_context`` for who owns what and the lock order."""
from __future__ import annotations

import select
import socket
import threading
import time
from typing import TYPE_CHECKING, Callable

import caproto_core as core
from caproto_core import CLIENT

from ._channels import ChannelAccessError, ClientChannel, Pending, Subscription
from ._large_buffers import LARGE, LargeBuffers, LargeMessage
from .engine import CircuitChannels, CircuitHealth

if TYPE_CHECKING:
    from ._context_part import ContextPart


#: Room for the largest metadata structure (DBR_CTRL_ENUM: 422 bytes) and padding.
METADATA_ALLOWANCE = 512
#: Seconds a caller's write may wait for a server that takes no data before the circuit
#: is dropped (the I/O thread itself never waits: it keeps what is left for later).
SEND_TIMEOUT = 10.0


class Circuit(CircuitChannels[ClientChannel, Pending]):
    """A TCP connection to one server at one priority, and the core's view of it; what
    it carries and what connecting and losing it do are the engine's (CircuitChannels)."""

    def __init__(self, context: ContextPart, address: tuple[str, int], priority: int):
        self.context = context
        self.address = address
        #: "host:port", made once: every channel's PV keeps it (pyepics' ``host``).
        self.host = f"{address[0]}:{address[1]}"
        self.priority = priority
        # The limit is on array bytes; a payload adds its metadata structure and padding.
        super().__init__(core.VirtualCircuit(
            CLIENT, address, priority,
            max_payload_size=context.config.max_array_bytes + METADATA_ALLOWANCE))
        self.lock = threading.RLock()
        #: Held while writing to the socket, and never while waiting for another lock:
        #: bytes are queued under ``lock`` (in the order the core recorded them), and
        #: written by whoever holds ``send_lock`` after letting ``lock`` go.
        self.send_lock = threading.Lock()
        #: Bytes waiting to be written, in order; ``queue_lock`` guards the list only.
        self.outgoing: list[bytes | memoryview] = []
        self.queue_lock = threading.Lock()
        self.want_write = False  # the I/O thread watches for writability (bytes left)
        #: Whoever holds ``reader`` receives and handles this circuit's messages: the I/O
        #: thread, or a caller receiving its own reply (``Context.wait_for``).
        self.reader = threading.Lock()
        #: Guards ``caller_reading`` and what the event loop watches on the socket, which
        #: callers change too; a socket closed while a caller reads it is closed by the
        #: caller (see ``Context._stop_reading``).
        self.io_lock = threading.Lock()
        self.caller_reading = False  # the I/O thread does not watch for replies meanwhile
        self.on_event: Callable | None = None  # the event loop's handler for the socket
        # A caller's poll object for the socket (one reader at a time).
        self.poller: select.poll | None = None
        self.sock: socket.socket | None = None
        self.closed = False
        self.completed: list[Pending] = []  # answered in the batch being handled
        self.subscriptions: dict[int, Subscription] = {}  # by subscriptionid
        self.health = CircuitHealth(time.monotonic())
        self.name_server = False  # a circuit that only carries searches
        self.large: LargeMessage | None = None  # being received
        self.large_buffers = LargeBuffers()

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
            if threading.get_ident() == self.context.loop.thread_id:
                self.context._unflushed.add(self)
            else:
                self.context.loop.call_soon(self.context._flush, self)

    def queue(self, pieces: list[bytes | memoryview]) -> bool:
        """Queue buffers to be written, in order; True if the queue was empty."""
        with self.queue_lock:
            was_empty = not self.outgoing
            self.outgoing.extend(pieces)
            return was_empty

    def _take_queued(self) -> list[bytes | memoryview]:
        """Everything queued, in order, small buffers joined (one send for many)."""
        with self.queue_lock:
            taken, self.outgoing = self.outgoing, []
        return taken if len(taken) == 1 else _joined(taken)

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
            self.context.loop.call_soon(self.context._flush, self)

    def _write_some(self) -> bool:
        """Write what the socket takes now; True if bytes are left. If another thread is
        writing, it hands what is queued to the I/O thread when done: False."""
        if not self.send_lock.acquire(blocking=False):
            return False
        try:
            if self.closed or not self.outgoing:
                return False
            pieces = self._take_queued()
            sock = self.sock
            assert sock is not None  # bytes are queued on connected circuits only
            for index, data in enumerate(pieces):
                try:
                    sent = sock.send(data)
                except (BlockingIOError, InterruptedError):
                    sent = 0
                if sent < len(data):
                    with self.queue_lock:
                        self.outgoing[:0] = [data[sent:], *pieces[index + 1:]]
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
                for data in self._take_queued():
                    self._send_all(data)
        finally:
            if self.outgoing and not self.closed:  # queued by the I/O thread meanwhile
                self.context.loop.call_soon(self.context._flush, self)

    def _send_all(self, data: bytes | memoryview) -> None:
        """Write all of ``data`` (the caller holds ``send_lock``), waiting for the socket."""
        view = memoryview(data)
        deadline = time.monotonic() + SEND_TIMEOUT
        sock = self.sock
        assert sock is not None  # bytes are queued on connected circuits only
        try:
            while view:
                try:
                    sent = sock.send(view)
                except (BlockingIOError, InterruptedError):
                    sent = 0
                if sent:
                    view = view[sent:]
                    deadline = time.monotonic() + SEND_TIMEOUT
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise socket.timeout(f"the server took no data for {SEND_TIMEOUT} s")
                _wait_writable(sock, remaining)
        except OSError as exc:
            self._failed(exc)

    def _failed(self, exc: OSError) -> None:
        """A caller's write failed: the I/O thread drops the circuit; the caller learns why."""
        self.context.loop.call_soon(self.context._lose_circuit, self, f"send failed: {exc}")
        raise ChannelAccessError(f"send to {self.address[0]}:{self.address[1]} failed: "
                                 f"{exc}") from None

    def prepare(self, *messages: core.Message) -> list[bytes | memoryview]:
        """Check and record messages; the buffers to write (a large payload as it is:
        joining would copy it). The caller holds ``self.lock``."""
        if self.closed or not self.connected:
            raise ChannelAccessError(f"circuit to {self.address[0]}:{self.address[1]} is "
                                     f"not connected")
        buffers = self.core.send(*messages)
        if len(buffers) <= 2 and len(buffers[-1]) < LARGE:  # one message, not large
            return [b"".join(buffers)]
        return _joined(buffers)


def _joined(buffers: list[bytes | memoryview]) -> list[bytes | memoryview]:
    """The buffers in order, each run of small ones joined into one bytes object."""
    pieces: list[bytes | memoryview] = []
    small: list[bytes | memoryview] = []
    for buffer in buffers:
        if len(buffer) < LARGE:
            small.append(buffer)
            continue
        if small:
            pieces.append(b"".join(small))
            small = []
        pieces.append(buffer)
    if small:
        pieces.append(b"".join(small))
    return pieces


def shutdown_socket(sock: socket.socket) -> None:
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
