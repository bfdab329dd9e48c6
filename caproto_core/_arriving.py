"""Converting the numbers of a large data message while its bytes are still arriving.

A message of 1,000,000 doubles takes a millisecond or more to arrive over loopback, and
converting its numbers from big-endian takes another 0.3-0.6 ms once it is all in. An I/O
layer that receives a large message in place (``VirtualCircuit.next_message_size`` and
``take_partial``) can convert what has arrived each time the socket runs dry, so that
little is left to convert when the last bytes come. The message's payload stays the
bytes as received; the converted numbers become what its ``decode()`` returns.
"""
from __future__ import annotations

from typing import Any

from ._dbr import _ELEMENTS, _LITTLE_ENDIAN, DBR_TYPES, Allocate, Buffer, decode_metadata
from ._messages import DATA_MESSAGES, Message, Role, _set_decoded
from ._readers import _table, message_size, peek_header

try:
    import numpy
except ImportError:
    numpy = None  # type: ignore[assignment]  # then there is nothing to convert early


class ArrivingValues:
    """The numbers of one large data message, converted to native byte order as its
    bytes arrive (made by ``arriving_values``)."""

    __slots__ = ("_type_id", "_count", "_start", "_wire_dtype", "_allocate", "_wire",
                 "_values", "_done")

    def __init__(self, type_id: int, count: int, start: int, wire_dtype: Any,
                 allocate: Allocate | None) -> None:
        self._type_id = type_id
        self._count = count
        self._start = start  # where the numbers begin, counted from the header's start
        self._wire_dtype = wire_dtype
        self._allocate = allocate
        self._wire: Any = None  # the numbers as received: a view of the I/O layer's buffer
        self._values: Any = None  # allocated once numbers come, not for a header alone
        self._done = 0  # numbers converted so far

    def convert(self, data: Buffer, available: int) -> None:
        """Convert the numbers that lie wholly within ``data[:available]`` and are not
        converted yet. ``data`` holds the message from its header on, and must be the
        same buffer at every call."""
        end = min(self._count, (available - self._start) // self._wire_dtype.itemsize)
        if end <= self._done:
            return
        if self._values is None:
            self._wire = numpy.frombuffer(data, self._wire_dtype, self._count, self._start)
            native = self._wire_dtype.newbyteorder("=")
            self._values = numpy.empty(self._count, native) if self._allocate is None \
                else self._allocate(self._count, native)
        self._values[self._done:end] = self._wire[self._done:end]
        self._done = end

    def finish(self, message: Message) -> bool:
        """Give ``message`` the converted numbers, so that its ``decode()`` returns them
        without converting again; False (nothing given) unless it is the message whose
        bytes were converted, all of them."""
        if self._wire is None or self._done < self._count or \
                type(message) not in DATA_MESSAGES or \
                (message.data_type, message.data_count) != (self._type_id, self._count):
            return False
        # The numbers converted must be those of this message's payload, not a copy.
        layout = DBR_TYPES[self._type_id]
        payload = numpy.frombuffer(message.payload, "u1")
        offset = _address(self._wire) - _address(payload)
        if offset != layout.metadata.size:
            return False
        _set_decoded(message, (decode_metadata(layout, message.payload), self._values))
        return True


def _address(array: Any) -> int:
    return int(array.__array_interface__["data"][0])


def arriving_values(head: Buffer, role: Role,
                    allocate: Allocate | None = None) -> ArrivingValues | None:
    """For the first bytes of a message from ``role`` (the whole header at least, as
    ``take_partial`` gives them): an ArrivingValues that converts its numbers, once they
    come, into ``allocate``'s array (numpy.empty without); or None when there is nothing
    to convert early: not a data message, strings or single bytes, a big-endian machine,
    no numpy, a partial header, or a payload too short for its count (the readers refuse
    it)."""
    header = peek_header(head)
    if numpy is None or not _LITTLE_ENDIAN or header is None:
        return None
    cls = _table(role).get(header.command)
    layout = DBR_TYPES.get(header.data_type)
    if cls not in DATA_MESSAGES or layout is None:
        return None
    element = _ELEMENTS[layout.native]
    count = header.data_count
    if element.size not in (2, 4, 8) or \
            header.payload_size < layout.metadata.size + count * element.size:
        return None
    total = message_size(head)
    assert total is not None  # the header is whole
    start = total - header.payload_size + layout.metadata.size
    return ArrivingValues(header.data_type, count, start,
                          numpy.dtype(element.numpy_dtype), allocate)
