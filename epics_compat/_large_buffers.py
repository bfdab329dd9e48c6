"""Memory for large messages (arrays) and for the values decoded from them, reused once
nothing refers to it; and a large message being received into it (LargeMessage): the
numbers of one are converted where they were received, so their memory is the values'.

Fresh memory costs its page faults each time it is first written: about 2 ms for 8 MB
in 4 kB pages, and up to 15-25 ms when the kernel compacts memory for the huge pages
that numpy asks for (seen on the first gets of a process). Messages and the values
decoded from them are views of their memory, so it is only reused when no view of it is
alive: then CPython's reference count of it is the pool's own.
"""
from __future__ import annotations

import sys
import threading
from typing import Any

import caproto_core as core

try:
    import numpy
except ImportError:
    numpy = None  # type: ignore[assignment]  # a bytearray then (zero-filled first)

#: Messages, and decoded values, at least this large use reused memory.
LARGE = 1 << 18
#: At most this much is received at once into an inbox, whose bytes are copied out
#: (smaller messages; a large one is received into a buffer of its own size).
RECEIVE_SIZE = 1 << 18
#: Receive buffers kept per circuit, for large messages with nothing to convert (strings,
#: bytes): one may still back the last reply a channel keeps.
KEEP = 2
#: Buffers kept for values, and for the large messages whose numbers are converted in
#: place: the caller's last value stays alive while the next one comes (a PV keeps its
#: last value too, the same array). Each kept buffer stays allocated after the program
#: lets go of its values: two is what a loop of gets needs.
KEEP_VALUES = 2


class LargeBuffers:
    """A pool of large buffers, each reused once nothing else refers to it."""

    def __init__(self, keep: int = KEEP) -> None:
        self._kept: list[Any] = []  # numpy arrays of bytes, or bytearrays
        self._keep = keep
        self._lock = threading.Lock()

    def take(self, size: int) -> memoryview:
        """A writable buffer of ``size`` bytes: a kept one no longer referred to, of a
        size up to twice that, or a new one (numpy's is not zero-filled first)."""
        with self._lock:
            for buffer in self._kept:
                # References: the list, this loop's name and getrefcount's argument.
                if sys.getrefcount(buffer) == 3 and size <= len(buffer) <= 2 * size:
                    return memoryview(buffer)[:size]
            new: Any = (numpy.empty(size, numpy.uint8) if numpy is not None
                        else bytearray(size))
            self._kept = [new, *self._kept][:self._keep]
            return memoryview(new)


#: Memory of the values of large messages (shared by every context's threads).
_values = LargeBuffers(KEEP_VALUES)


def allocate(count: int, dtype: Any) -> Any:
    """An array of ``count`` elements of numpy ``dtype`` for decoded values (the core's
    ``allocate``): large ones in memory that a value the caller let go of had."""
    size = count * dtype.itemsize
    if size < LARGE:
        return numpy.empty(count, dtype)
    return numpy.frombuffer(_values.take(size), dtype, count)


class LargeMessage:
    """A large message received straight into a buffer of its size (no joining of
    pieces), its numbers converted in place as they come (see
    caproto_core.ArrivingValues): the buffer is then the values' memory."""

    __slots__ = ("buffer", "filled", "_arriving")

    def __init__(self, circuit: Any, buffers: LargeBuffers, size: int) -> None:
        partial = circuit.take_partial()
        self._arriving = core.arriving_values(partial, circuit.their_role)
        self.buffer = (buffers if self._arriving is None else _values).take(size)
        self.buffer[:len(partial)] = partial
        self.filled = len(partial)

    @classmethod
    def starting(cls, circuit: Any, buffers: LargeBuffers) -> LargeMessage | None:
        """The large message whose header the core ``circuit`` (a VirtualCircuit) holds,
        taken over from it; None if the next message is not large (or not begun).
        Its size was checked against EPICS_CA_MAX_ARRAY_BYTES with its header."""
        size = circuit.next_message_size()
        if size is None or size < LARGE:
            return None
        return cls(circuit, buffers, size)

    @property
    def room(self) -> memoryview:
        """Where the next bytes go."""
        return self.buffer[self.filled:]

    @property
    def complete(self) -> bool:
        return self.filled == len(self.buffer)

    def convert(self) -> None:
        """Convert the numbers that came so far (between waits for the rest)."""
        if self._arriving is not None:
            self._arriving.convert(self.buffer, self.filled)

    def parse(self, circuit: Any) -> list:
        """The complete message, through the core ``circuit`` (ProtocolError as its recv
        raises), decoded to the numbers converted on the way."""
        self.convert()
        messages = circuit.recv(self.buffer)
        if self._arriving is not None and messages:
            self._arriving.finish(messages[0])
        return messages
