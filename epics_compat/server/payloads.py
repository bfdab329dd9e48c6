"""Encoding a PV for the wire: the payloads of read replies and monitor updates."""
from __future__ import annotations

import logging
from typing import Any, Sequence

from caproto_core import (EcaStatus, EventAddResponse, Message, dbr_type, encode_payload,
                          payload_size)

from .convert import STRING, ConversionError, zeros
from .pv import PV

logger = logging.getLogger("epics_compat.server")


def data_message(cls: type[Message], data_type: int, count: int, parameter1: int,
                 parameter2: int, payload: bytes | bytearray | memoryview) -> Message:
    """A data message (ReadNotifyResponse, EventAddResponse) around an encoded payload."""
    if cls is EventAddResponse and not payload:
        payload = bytes(8)  # an empty EVENT_ADD from a server would mean "cancelled"
    message = cls.__new__(cls)
    Message.__init__(message, data_type, count, parameter1, parameter2, payload)
    return message


def encode_read(pv: PV, data_type: int, count: int, readable: bool = True
                ) -> tuple[bytes | bytearray | memoryview, int, int]:
    """(payload, element count, ECA status) of ``pv`` read as ``data_type``.

    Values that do not convert (or a PV the client may not read) give zeros and a
    failure status, as rsrv does. A lone string fills its whole 40-byte field. Raises
    ValueError for a data type that cannot be read at all.
    """
    layout = dbr_type(data_type)
    status = EcaStatus.ECA_NORMAL
    values: Sequence[Any]
    metadata = None
    if not readable:
        values, status = zeros(layout.native, count or 1), EcaStatus.ECA_NORDACCESS
    else:
        try:
            values, metadata = pv.read(data_type, count)
        except ConversionError as exc:
            logger.debug("%s read as %s fails: %s", pv.name, layout.type_id.name, exc)
            values = zeros(layout.native, count or max(1, len(pv.values)))
            status = EcaStatus.ECA_GETFAIL
    try:
        payload, n = encode_payload(data_type, values, metadata)
    except (ValueError, TypeError, OverflowError) as exc:
        logger.warning("cannot encode %s as %s: %s", pv.name, layout.type_id.name, exc)
        payload, n = encode_payload(data_type, zeros(layout.native, len(values)))
        status = EcaStatus.ECA_GETFAIL
    if layout.native == STRING and n == 1:
        payload = bytes(payload).ljust(payload_size(data_type, 1), b"\0")
    return payload, n, status
