"""Turning received bytes into messages, without copying payloads.

``read_stream`` parses the complete messages at the start of a TCP buffer and says how many
bytes it used; ``read_datagram`` parses one whole UDP datagram. Both raise
``RemoteProtocolError`` naming the command, the offset and what was expected; no other
exception escapes for any input. Payload sizes come from headers, so a hostile header can
announce up to 4 GB: nothing is allocated for it here, and ``max_payload_size`` rejects it
before anyone waits for that much data.
"""
from __future__ import annotations

from typing import NamedTuple

from ._constants import Command
from ._dbr import DBR_TYPES, _ELEMENTS, Buffer
from ._errors import RemoteProtocolError
from ._messages import CLIENT, DATA_MESSAGES, EXTENDED_SIZES, HEADER, REQUESTS, RESPONSES, \
    SERVER, EventAddResponse, EventCancelResponse, Message, Role
# The reader fills a message's slots without __init__ (and without the immutable
# __setattr__), for speed.
from ._messages import _set_data_count, _set_data_type, _set_decoded, _set_extended, \
    _set_parameter1, _set_parameter2, _set_payload

_new = object.__new__
_set = object.__setattr__
_HEADER_SIZE = HEADER.size
_EXTENDED_HEADER_SIZE = HEADER.size + EXTENDED_SIZES.size
#: (metadata size, element size) of each DBR type, for the payload check of data messages.
_DATA_LAYOUT = {type_id: (layout.metadata.size, _ELEMENTS[layout.native].size)
                for type_id, layout in DBR_TYPES.items()}
_DATA_CLASSES = frozenset(DATA_MESSAGES)


def _table(role: Role) -> dict[int, type[Message]]:
    if role is CLIENT:
        return REQUESTS
    if role is SERVER:
        return RESPONSES
    raise TypeError(f"role must be caproto_core.CLIENT or caproto_core.SERVER, not {role!r}")


def _unknown(command: int, offset: int, role: Role) -> RemoteProtocolError:
    expected = ", ".join(cls.__name__ for cls in _table(role).values())
    try:
        name = f"command {Command(command).name} ({command})"
    except ValueError:
        name = f"unknown command code {command}"
    return RemoteProtocolError(f"{name} at offset {offset} is not one a {role.value} sends; "
                               f"expected one of {expected}")


def _check_data(cls: type[Message], data_type: int, count: int, size: int, offset: int) -> None:
    layout = _DATA_LAYOUT.get(data_type)
    if layout is None:
        raise RemoteProtocolError(f"{cls.__name__} at offset {offset} has data type "
                                  f"{data_type}; expected a DBR type id 0..38")
    needed = layout[0] + count * layout[1]
    # A single string may be sent shorter than its 40-byte field (strlen + 1).
    if size < needed and not (layout[1] == 40 and count == 1 and size > layout[0]):
        raise RemoteProtocolError(
            f"{cls.__name__} at offset {offset}: payload of {size} bytes is too short for "
            f"{count} element(s) of {DBR_TYPES[data_type].type_id.name} (type {data_type}); "
            f"expected at least {needed} bytes")


class Header(NamedTuple):
    """The fields of a message header, extended sizes included, whatever its command."""
    command: int
    payload_size: int
    data_type: int
    data_count: int
    parameter1: int
    parameter2: int


def peek_header(data: Buffer, offset: int = 0) -> Header | None:
    """The header of the message at ``offset``, read without parsing the message (for
    bytes the readers refuse: what to name in an error); None if it is partial."""
    available = len(data) - offset
    if available < _HEADER_SIZE:
        return None
    command, size, data_type, count, parameter1, parameter2 = HEADER.unpack_from(data, offset)
    if size == 0xFFFF:
        if available < _EXTENDED_HEADER_SIZE:
            return None
        size, count = EXTENDED_SIZES.unpack_from(data, offset + _HEADER_SIZE)
    return Header(command, size, data_type, count, parameter1, parameter2)


def message_size(data: Buffer, offset: int = 0) -> int | None:
    """Total bytes of the message starting at ``offset``, or None if its header is partial.

    Lets an I/O layer receive a large message straight into a buffer of its final size.
    """
    available = len(data) - offset
    if available < _HEADER_SIZE:
        return None
    size: int = HEADER.unpack_from(data, offset)[1]
    if size != 0xFFFF:
        return _HEADER_SIZE + size
    if available < _EXTENDED_HEADER_SIZE:
        return None
    extended_size: int = EXTENDED_SIZES.unpack_from(data, offset + _HEADER_SIZE)[0]
    return _EXTENDED_HEADER_SIZE + extended_size


def read_stream(data: Buffer, role: Role, max_payload_size: int | None = None
                ) -> tuple[list[Message], int]:
    """(messages, consumed): every complete message at the start of a TCP buffer.

    ``role`` is the side that sent ``data``. Bytes after ``consumed`` begin a message that
    is not complete yet. A header that can never start a valid message (unknown command,
    bad data type, payload too short for its count, or larger than ``max_payload_size``)
    raises RemoteProtocolError as soon as the header is in, without waiting for its
    payload. Payloads are memoryview slices of ``data``, not copies.
    """
    table = _table(role)
    view = data if isinstance(data, memoryview) else memoryview(data)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    end = len(view)
    unpack = HEADER.unpack_from
    unpack_sizes = EXTENDED_SIZES.unpack_from
    data_classes = _DATA_CLASSES
    data_layout = _DATA_LAYOUT
    messages: list[Message] = []
    append = messages.append
    offset = 0
    while end - offset >= _HEADER_SIZE:
        command, size, data_type, count, parameter1, parameter2 = unpack(view, offset)
        start = offset + _HEADER_SIZE
        if size == 0xFFFF:
            if end - offset < _EXTENDED_HEADER_SIZE:
                break
            count16 = count
            size, count = unpack_sizes(view, start)
            start += 8
            extended = True
        else:
            extended = False
        cls = table.get(command)
        if cls is None:
            raise _unknown(command, offset, role)
        if max_payload_size is not None and size > max_payload_size:
            raise RemoteProtocolError(
                f"{cls.__name__} at offset {offset} announces a payload of {size} bytes, "
                f"more than the maximum of {max_payload_size} (EPICS_CA_MAX_ARRAY_BYTES)")
        if cls in data_classes:
            if cls is EventAddResponse and not size:
                cls = EventCancelResponse
            else:
                layout = data_layout.get(data_type)
                if layout is None or size < layout[0] + count * layout[1]:
                    # Raises, unless it is one string sent shorter than its field.
                    _check_data(cls, data_type, count, size, offset)
        stop = start + size
        if stop > end:
            break
        message = _new(cls)
        _set_data_type(message, data_type)
        _set_data_count(message, count)
        _set_parameter1(message, parameter1)
        _set_parameter2(message, parameter2)
        _set_payload(message, view[start:stop])
        _set_extended(message, extended)
        _set_decoded(message, None)
        if extended and count16:
            _set(message, "_ext_count", count16)
        append(message)
        offset = stop
    return messages, offset


def read_datagram(data: Buffer, role: Role) -> list[Message]:
    """Every message in one UDP datagram sent by ``role``; partial messages raise."""
    messages, consumed = read_stream(data, role)
    if consumed != len(data):
        left = len(data) - consumed
        size = message_size(data, consumed)
        expected = (f"a header of {_HEADER_SIZE} bytes or more" if size is None
                    else f"{size} bytes as its header announces")
        raise RemoteProtocolError(f"datagram of {len(data)} bytes ends with an incomplete "
                                  f"message at offset {consumed}: {left} bytes left, "
                                  f"expected {expected}")
    return messages
