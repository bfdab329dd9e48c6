"""Receive buffers for large messages (arrays), reused once nothing refers to them.

A fresh 8 MB buffer costs its page faults, about 2 ms, each time the kernel first writes
into it: more than a quarter of a 1,000,000-double get. Messages and the values decoded
from them are views of their buffer, so a buffer is only reused when no view of it is
alive: then CPython's reference count of the buffer is the pool's own.
"""
from __future__ import annotations

import sys
from typing import Any

try:
    import numpy
except ImportError:
    numpy = None  # type: ignore[assignment]  # a bytearray then (zero-filled first)

#: Buffers kept per circuit: one may still back the last reply a channel keeps.
KEEP = 2


class LargeBuffers:
    """A circuit's pool of large receive buffers (used by one receiver at a time)."""

    def __init__(self) -> None:
        self._kept: list[Any] = []  # numpy arrays of bytes, or bytearrays

    def take(self, size: int) -> memoryview:
        """A writable buffer of ``size`` bytes: a kept one no longer referred to, of a
        size up to twice that, or a new one (numpy's is not zero-filled first)."""
        for buffer in self._kept:
            # References: the list, this loop's name and getrefcount's argument.
            if sys.getrefcount(buffer) == 3 and size <= len(buffer) <= 2 * size:
                return memoryview(buffer)[:size]
        new: Any = numpy.empty(size, numpy.uint8) if numpy is not None else bytearray(size)
        self._kept = [new, *self._kept][:KEEP]
        return memoryview(new)
