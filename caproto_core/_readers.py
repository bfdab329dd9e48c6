"""Turning received bytes into messages, without copying payloads.

``read_stream`` parses the complete messages at the start of a TCP buffer and says how many
bytes it used; ``read_datagram`` parses one whole UDP datagram. Both raise
``RemoteProtocolError`` naming the command, the offset and what was expected; no other
exception escapes for any input. Payload sizes come from headers, so a hostile header can
announce up to 4 GB: nothing is allocated for it here, and ``max_payload_size`` rejects it
before anyone waits for that much data.
"""
from __future__ import annotations

from ._constants import Command
from ._dbr import DBR_TYPES, _ELEMENTS
from ._errors import RemoteProtocolError
from ._messages import CLIENT, DATA_MESSAGES, EXTENDED_SIZES, HEADER, REQUESTS, RESPONSES, \
    SERVER, EventAddResponse, EventCancelResponse, Message, Role

_new = object.__new__
_set = object.__setattr__
_HEADER_SIZE = HEADER.size
_EXTENDED_HEADER_SIZE = HEADER.size + EXTENDED_SIZES.size
#: (metadata size, element size) of each DBR type, for the payload check of data messages.
_DATA_LAYOUT = {type_id: (layout.metadata.size, _ELEMENTS[layout.native].size)
                for type_id, layout in DBR_TYPES.items()}


def _table(role: Role) -> dict:
    if role is CLIENT:
        return REQUESTS
    if role is SERVER:
        return RESPONSES
    raise TypeError(f"role must be caproto_core.CLIENT or caproto_core.SERVER, not {role!r}")


def _unknown(command: int, offset: int, role: Role) -> RemoteProtocolError:
    try:
        name = f"{Command(command).name} ({command})"
    except ValueError:
        return RemoteProtocolError(f"unknown command code {command} at offset {offset}")
    return RemoteProtocolError(f"command {name} at offset {offset} is not one a "
                               f"{role.value} sends (obsolete, or the other direction)")


def _check_data(cls, data_type: int, count: int, size: int, offset: int) -> None:
    layout = _DATA_LAYOUT.get(data_type)
    if layout is None:
        raise RemoteProtocolError(f"{cls.__name__} at offset {offset} has data type "
                                  f"{data_type}, not a DBR type (0..38)")
    needed = layout[0] + count * layout[1]
    # A single string may be sent shorter than its 40-byte field (strlen + 1).
    if size < needed and not (layout[1] == 40 and count == 1 and size > layout[0]):
        raise RemoteProtocolError(f"{cls.__name__} at offset {offset}: payload of {size} "
                                  f"bytes is too short for {count} element(s) of DBR type "
                                  f"{data_type} ({needed} bytes expected)")


def message_size(data, offset: int = 0) -> int | None:
    """Total bytes of the message starting at ``offset``, or None if its header is partial.

    Lets an I/O layer receive a large message straight into a buffer of its final size.
    """
    available = len(data) - offset
    if available < _HEADER_SIZE:
        return None
    _, size, _, count, _, _ = HEADER.unpack_from(data, offset)
    if size != 0xFFFF:
        return _HEADER_SIZE + size
    if available < _EXTENDED_HEADER_SIZE:
        return None
    return _EXTENDED_HEADER_SIZE + EXTENDED_SIZES.unpack_from(data, offset + _HEADER_SIZE)[0]


def read_stream(data, role: Role, max_payload_size: int | None = None
                ) -> tuple[list[Message], int]:
    """(messages, consumed): every complete message at the start of a TCP buffer.

    ``role`` is the side that sent ``data``. Bytes after ``consumed`` begin a message that
    is not complete yet. A payload announced larger than ``max_payload_size`` raises.
    """
    table = _table(role)
    view = memoryview(data).cast("B") if not isinstance(data, memoryview) else data
    end = len(view)
    unpack = HEADER.unpack_from
    messages = []
    append = messages.append
    offset = 0
    while end - offset >= _HEADER_SIZE:
        command, size, data_type, count, parameter1, parameter2 = unpack(view, offset)
        start = offset + _HEADER_SIZE
        extended = size == 0xFFFF
        if extended:
            if end - offset < _EXTENDED_HEADER_SIZE:
                break
            size, count = EXTENDED_SIZES.unpack_from(view, start)
            start += EXTENDED_SIZES.size
        if max_payload_size is not None and size > max_payload_size:
            raise RemoteProtocolError(
                f"message with command {command} at offset {offset} announces a payload of "
                f"{size} bytes, more than the maximum of {max_payload_size} "
                f"(EPICS_CA_MAX_ARRAY_BYTES)")
        stop = start + size
        if stop > end:
            break
        cls = table.get(command)
        if cls is None:
            raise _unknown(command, offset, role)
        if cls is EventAddResponse and not size:
            cls = EventCancelResponse
        elif cls in DATA_MESSAGES:
            _check_data(cls, data_type, count, size, offset)
        message = _new(cls)
        _set(message, "data_type", data_type)
        _set(message, "data_count", count)
        _set(message, "parameter1", parameter1)
        _set(message, "parameter2", parameter2)
        _set(message, "payload", view[start:stop])
        _set(message, "extended", extended)
        _set(message, "_decoded", None)
        append(message)
        offset = stop
    return messages, offset


def read_datagram(data, role: Role) -> list[Message]:
    """Every message in one UDP datagram sent by ``role``; partial messages raise."""
    messages, consumed = read_stream(data, role)
    if consumed != len(data):
        raise RemoteProtocolError(f"datagram of {len(data)} bytes ends with an incomplete "
                                  f"message at offset {consumed}")
    return messages
