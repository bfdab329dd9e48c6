"""DBR data types: the layout of every value and metadata structure on the wire.

A payload of a data message is a metadata structure (possibly empty) followed by
``count`` elements of the native type, padded to a multiple of 8 bytes. Everything is
big-endian. Decoding gives numpy arrays when numpy is importable (``array.array`` or a
list of ``str`` otherwise) and the metadata as a plain dict.
"""
from __future__ import annotations

import array
import enum
import struct
import sys
from typing import Any, Callable, NamedTuple, Optional, Union

from ._constants import EPICS_EPOCH_OFFSET, MAX_ENUM_STATES, MAX_ENUM_STRING_SIZE, \
    MAX_STRING_SIZE, MAX_UNITS_SIZE

try:
    import numpy
except ImportError:  # the core works without numpy, more slowly
    numpy = None  # type: ignore[assignment]  # tested for None wherever it is used

#: Strings are bytes on the wire; this decoding keeps every byte (undecodable bytes become
#: surrogates and are written back unchanged).
STRING_ENCODING = "utf-8"
STRING_ERRORS = "surrogateescape"
_LITTLE_ENDIAN = sys.byteorder == "little"

#: What payloads arrive as: bytes, or views of a receive buffer.
Buffer = Union[bytes, bytearray, memoryview]
#: A metadata structure as a dict: status, severity, timestamp, limits, units, ...
Metadata = dict[str, Any]
#: (metadata or None for native types, the values) of a data payload.
Decoded = tuple[Union[Metadata, None], Any]
#: Where decoded numbers go: (count, dtype) -> a writable, contiguous numpy array of
#: that many elements (a receiver may hand out memory it reuses; numpy.empty without).
Allocate = Callable[[int, Any], Any]


class ChannelType(enum.IntEnum):
    STRING = 0
    INT = 1
    FLOAT = 2
    ENUM = 3
    CHAR = 4
    LONG = 5
    DOUBLE = 6

    STS_STRING = 7
    STS_INT = 8
    STS_FLOAT = 9
    STS_ENUM = 10
    STS_CHAR = 11
    STS_LONG = 12
    STS_DOUBLE = 13

    TIME_STRING = 14
    TIME_INT = 15
    TIME_FLOAT = 16
    TIME_ENUM = 17
    TIME_CHAR = 18
    TIME_LONG = 19
    TIME_DOUBLE = 20

    GR_STRING = 21
    GR_INT = 22
    GR_FLOAT = 23
    GR_ENUM = 24
    GR_CHAR = 25
    GR_LONG = 26
    GR_DOUBLE = 27

    CTRL_STRING = 28
    CTRL_INT = 29
    CTRL_FLOAT = 30
    CTRL_ENUM = 31
    CTRL_CHAR = 32
    CTRL_LONG = 33
    CTRL_DOUBLE = 34

    PUT_ACKT = 35
    PUT_ACKS = 36
    STSACK_STRING = 37
    CLASS_NAME = 38

    # EPICS base spells INT as SHORT too.
    SHORT = 1
    STS_SHORT = 8
    TIME_SHORT = 15
    GR_SHORT = 22
    CTRL_SHORT = 29


NATIVE_TYPES = tuple(ChannelType(i) for i in range(7))
#: The families of promoted types, in the order of their type ids.
FAMILIES = ("native", "sts", "time", "gr", "ctrl")


class _Element(NamedTuple):
    size: int
    numpy_dtype: str  # big-endian, as on the wire
    array_typecode: str  # native-endian typecode of array.array


def _typecode(kind: str, size: int) -> str:
    return next(code for code in kind if array.array(code).itemsize == size)


_ELEMENTS = {
    ChannelType.STRING: _Element(MAX_STRING_SIZE, "S40", ""),
    ChannelType.INT: _Element(2, ">i2", _typecode("h", 2)),
    ChannelType.FLOAT: _Element(4, ">f4", _typecode("f", 4)),
    ChannelType.ENUM: _Element(2, ">u2", _typecode("H", 2)),
    ChannelType.CHAR: _Element(1, "u1", "B"),
    ChannelType.LONG: _Element(4, ">i4", _typecode("il", 4)),
    ChannelType.DOUBLE: _Element(8, ">f8", _typecode("d", 8)),
}


class DbrType(NamedTuple):
    """How one DBR type is laid out: metadata structure, then values of ``native``."""
    type_id: ChannelType
    native: ChannelType
    family: str
    metadata: struct.Struct  # the fixed part before the values, padding included
    fields: tuple[str, ...]  # names of the non-padding items of ``metadata``


_LIMITS = ("upper_disp_limit", "lower_disp_limit", "upper_alarm_limit",
           "upper_warning_limit", "lower_warning_limit", "lower_alarm_limit")
_CTRL_LIMITS = _LIMITS + ("upper_ctrl_limit", "lower_ctrl_limit")

# (format, fields) of the metadata of each promoted family, by native type.
# Padding bytes ("x") are where the C structures have RISC_pad members.
_STS = ("hh", ("status", "severity"))
_TIME = ("hhII", ("status", "severity", "seconds", "nanoseconds"))
_LAYOUTS: dict[str, dict[ChannelType, tuple[str, tuple[str, ...]]]] = {
    "native": {t: ("", ()) for t in NATIVE_TYPES},
    "sts": {
        ChannelType.STRING: _STS, ChannelType.INT: _STS, ChannelType.FLOAT: _STS,
        ChannelType.ENUM: _STS, ChannelType.CHAR: ("hhx", _STS[1]),
        ChannelType.LONG: _STS, ChannelType.DOUBLE: ("hh4x", _STS[1]),
    },
    "time": {
        ChannelType.STRING: _TIME, ChannelType.INT: ("hhII2x", _TIME[1]),
        ChannelType.FLOAT: _TIME, ChannelType.ENUM: ("hhII2x", _TIME[1]),
        ChannelType.CHAR: ("hhII3x", _TIME[1]), ChannelType.LONG: _TIME,
        ChannelType.DOUBLE: ("hhII4x", _TIME[1]),
    },
}
for _family, _limits, _n in (("gr", _LIMITS, 6), ("ctrl", _CTRL_LIMITS, 8)):
    _LAYOUTS[_family] = {
        ChannelType.STRING: _STS,
        ChannelType.INT: (f"hh8s{_n}h", _STS[1] + ("units",) + _limits),
        ChannelType.FLOAT: (f"hhh2x8s{_n}f", _STS[1] + ("precision", "units") + _limits),
        ChannelType.ENUM: (f"hhh{MAX_ENUM_STATES * MAX_ENUM_STRING_SIZE}s",
                           _STS[1] + ("no_str", "strs")),
        ChannelType.CHAR: (f"hh8s{_n}Bx", _STS[1] + ("units",) + _limits),
        ChannelType.LONG: (f"hh8s{_n}i", _STS[1] + ("units",) + _limits),
        ChannelType.DOUBLE: (f"hhh2x8s{_n}d", _STS[1] + ("precision", "units") + _limits),
    }


def _build_table() -> dict[int, DbrType]:
    table: dict[int, DbrType] = {}
    for family_index, family in enumerate(FAMILIES):
        for native in NATIVE_TYPES:
            fmt, fields = _LAYOUTS[family][native]
            type_id = ChannelType(family_index * 7 + native)
            table[type_id] = DbrType(type_id, native, family, struct.Struct(">" + fmt), fields)
    table[ChannelType.PUT_ACKT] = DbrType(ChannelType.PUT_ACKT, ChannelType.ENUM, "special",
                                          struct.Struct(">"), ())
    table[ChannelType.PUT_ACKS] = DbrType(ChannelType.PUT_ACKS, ChannelType.ENUM, "special",
                                          struct.Struct(">"), ())
    table[ChannelType.STSACK_STRING] = DbrType(
        ChannelType.STSACK_STRING, ChannelType.STRING, "special", struct.Struct(">HHHH"),
        ("status", "severity", "ackt", "acks"))
    table[ChannelType.CLASS_NAME] = DbrType(ChannelType.CLASS_NAME, ChannelType.STRING,
                                            "special", struct.Struct(">"), ())
    return table


DBR_TYPES: dict[int, DbrType] = _build_table()


def dbr_type(type_id: int) -> DbrType:
    """The layout of a type id, or ValueError naming the bad id."""
    try:
        return DBR_TYPES[type_id]
    except KeyError:
        raise ValueError(_not_a_type(type_id)) from None


def _not_a_type(type_id: object) -> str:
    return f"{type_id!r} is not a DBR type id (valid: 0..38)"


def native_type(type_id: int) -> ChannelType:
    return dbr_type(type_id).native


def promote(native: int, family: str) -> ChannelType:
    """The type id of ``native`` in ``family`` ('native', 'sts', 'time', 'gr', 'ctrl')."""
    native = dbr_type(native).native
    if family not in FAMILIES:
        raise ValueError(f"{family!r} is not a DBR type family (valid: {', '.join(FAMILIES)})")
    return ChannelType(FAMILIES.index(family) * 7 + native)


def element_size(type_id: int) -> int:
    return _ELEMENTS[dbr_type(type_id).native].size


def payload_size(type_id: int, count: int) -> int:
    """Bytes of a payload of ``count`` elements, padding to 8 bytes included."""
    layout = dbr_type(type_id)
    size = layout.metadata.size + count * _ELEMENTS[layout.native].size
    return (size + 7) & ~7


# --- strings -------------------------------------------------------------------------

def decode_string(raw: bytes | memoryview) -> str:
    """A NUL-terminated (or field-filling) byte string as str, lossless."""
    raw = bytes(raw)
    end = raw.find(b"\0")
    if end >= 0:
        raw = raw[:end]
    return raw.decode(STRING_ENCODING, STRING_ERRORS)


def encode_string(value: str | bytes, size: int = MAX_STRING_SIZE, what: str = "string") -> bytes:
    """``value`` as bytes that fit a ``size``-byte field with its terminating NUL."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
    else:
        raw = str(value).encode(STRING_ENCODING, STRING_ERRORS)
    if len(raw) >= size:
        raise ValueError(f"{what} {value!r} is {len(raw)} bytes long; at most {size - 1} "
                         f"fit in a {size}-byte field")
    return raw


# --- values ---------------------------------------------------------------------------

def decode_values(native: ChannelType, data: Buffer, count: int, use_numpy: bool = True,
                  allocate: Allocate | None = None) -> Any:
    """``count`` values of a native type from ``data`` (which may hold padding after).

    Numbers come back as a numpy array in native byte order (a zero-copy, read-only view
    for bytes, one vectorised conversion otherwise, into ``allocate``'s array when given)
    or, without numpy, as ``array.array``; strings as a list of str.
    """
    return _VALUE_DECODERS[native](data, 0, count, use_numpy, allocate)


def _decode_strings(data: Buffer, offset: int, count: int, use_numpy: bool = True,
                    allocate: Allocate | None = None) -> list[str]:
    # A single string may be sent shorter than its 40-byte field (strlen + 1).
    raw = bytes(data[offset:offset + count * MAX_STRING_SIZE])
    return [raw[i:i + MAX_STRING_SIZE].split(b"\0", 1)[0].decode(STRING_ENCODING,
                                                                 STRING_ERRORS)
            for i in range(0, count * MAX_STRING_SIZE, MAX_STRING_SIZE)]


ValuesDecoder = Callable[[Buffer, int, int, bool, Optional[Allocate]], Any]


def _number_decoder(native: ChannelType) -> ValuesDecoder:
    element = _ELEMENTS[native]
    size, typecode = element.size, element.array_typecode
    swap = size > 1 and _LITTLE_ENDIAN
    if numpy is not None:
        frombuffer = numpy.frombuffer
        wire_dtype = numpy.dtype(element.numpy_dtype)
        native_dtype = wire_dtype.newbyteorder("=")

    def decode(data: Buffer, offset: int, count: int, use_numpy: bool = True,
               allocate: Allocate | None = None) -> Any:
        # ``numpy`` is looked up at each call, so a test can take it away.
        if use_numpy and numpy is not None:
            values = frombuffer(data, wire_dtype, count, offset)
            if swap:
                if allocate is None:
                    return values.astype(native_dtype)
                native_values = allocate(count, native_dtype)
                numpy.copyto(native_values, values)
                return native_values
            # A view of the payload: it must not be a way to change the message's bytes.
            values.flags.writeable = False
            return values
        plain = array.array(typecode)
        plain.frombytes(data[offset:offset + count * size])
        if swap:
            plain.byteswap()
        return plain

    return decode


_VALUE_DECODERS: dict[ChannelType, ValuesDecoder] = {
    native: (_decode_strings if native == ChannelType.STRING else _number_decoder(native))
    for native in NATIVE_TYPES}


def _as_sequence(value: Any) -> Any:
    if isinstance(value, (str, bytes, bytearray, memoryview)):
        return [value]
    try:
        len(value)
    except TypeError:
        return [value]
    return value


#: (lowest, highest) value of each integer native type.
_INT_RANGES = {
    ChannelType.INT: (-2**15, 2**15 - 1),
    ChannelType.ENUM: (0, 2**16 - 1),
    ChannelType.CHAR: (0, 2**8 - 1),
    ChannelType.LONG: (-2**31, 2**31 - 1),
}


#: For encode_values' single numbers: the packer, the Python types it takes as they are,
#: and the range of an integer type. The rest takes the general path (a float sent as an
#: integer type is cut toward zero there, a FLOAT may overflow to infinity, an int too
#: large for a double raises OverflowError).
_SCALARS: dict[ChannelType, tuple[struct.Struct, tuple[type, ...],
                                  tuple[int, int] | None]] = {
    ChannelType.DOUBLE: (struct.Struct(">d"), (float,), None),
    **{native: (struct.Struct(code), (int,), _INT_RANGES[native])
       for native, code in ((ChannelType.INT, ">h"), (ChannelType.ENUM, ">H"),
                            (ChannelType.LONG, ">i"))},
}


def _out_of_range(value: object, native: ChannelType) -> ValueError:
    low, high = _INT_RANGES[native]
    return ValueError(f"cannot encode {value!r} as {native.name}: values must be finite and "
                      f"within {low}..{high}")


#: Arrays of at least this many bytes, converted for the wire, travel as a view of the
#: converted array: copying them into bytes would cost as much again.
_VIEWED_VALUES = 1 << 16


def _one_element(value: Any) -> Any:
    """The element of a one-element list, tuple or numpy array (as a Python number);
    anything else as it is."""
    kind = type(value)
    if kind is list or kind is tuple:
        return value[0] if len(value) == 1 else value
    if numpy is not None and kind is numpy.ndarray and value.size == 1:
        return value.item()
    return value


def encode_values(native: ChannelType, value: Any) -> tuple[Buffer, int]:
    """Values of a native type as wire bytes (unpadded) and their element count.

    Accepts a scalar, a sequence, a numpy array, and for CHAR also bytes or str (their
    bytes, as given). Floats sent as an integer type are cut toward zero, as a C cast
    does; values outside the type's range, NaN and infinities raise ValueError (with or
    without numpy). Text sent as numbers raises TypeError.
    """
    scalar = _SCALARS.get(native)
    if scalar is not None:
        # One plain number (a put, a scalar PV's update) is packed directly, the bytes
        # numpy would give: given alone, or as the one element of a list or an array.
        one = _one_element(value)
        if type(one) in scalar[1]:
            packer, _, limits = scalar
            if limits is None or limits[0] <= one <= limits[1]:
                return packer.pack(one), 1
    element = _ELEMENTS[native]
    if native == ChannelType.STRING:
        items = _as_sequence(value)
        if numpy is not None and isinstance(items, numpy.ndarray):
            items = items.tolist()
        raws = [encode_string(item) for item in items]
        if len(raws) == 1:
            # One string travels as its bytes and a NUL, like libca sends it.
            return raws[0] + b"\0", 1
        return b"".join(raw.ljust(MAX_STRING_SIZE, b"\0") for raw in raws), len(raws)
    if native == ChannelType.CHAR and isinstance(value, (str, bytes, bytearray, memoryview)):
        raw = value.encode(STRING_ENCODING, STRING_ERRORS) if isinstance(value, str) \
            else bytes(value)
        return raw, len(raw)
    limits = _INT_RANGES.get(native)
    if numpy is not None:
        try:
            # Flat from the start: numpy.trunc of a 0-d array gives a numpy scalar, whose
            # astype() keeps the machine's byte order (3.5 as LONG went out as 3 << 24).
            values = numpy.asarray(value).reshape(-1)
            kind = values.dtype.kind
            if kind in "USV":
                raise TypeError(f"cannot send text or bytes {value!r} as {native.name} "
                                f"numbers")
            if kind == "O" and limits is not None:
                # Python ints beyond 64 bits, or mixed objects: checked one by one.
                values = numpy.array([_plain_int(item, value, native)
                                      for item in values.tolist()], dtype=int)
            elif limits is not None and values.size:
                if kind in "fc":
                    if not numpy.all(numpy.isfinite(values)):
                        raise _out_of_range(value, native)
                    values = numpy.trunc(values.real)
                if values.min() < limits[0] or values.max() > limits[1]:
                    raise _out_of_range(value, native)
            wire = values.astype(element.numpy_dtype, copy=False)
        except (TypeError, OverflowError) as exc:
            if str(exc).startswith("cannot "):
                raise
            raise type(exc)(f"cannot encode {value!r} as {native.name}: {exc}") from None
        except ValueError as exc:
            if str(exc).startswith("cannot "):
                raise
            raise ValueError(f"cannot encode {value!r} as {native.name}: {exc}") from None
        if wire.nbytes >= _VIEWED_VALUES and not numpy.may_share_memory(wire, value):
            # Converted for this message (a copy nobody else has): its bytes as they are.
            return wire.data.cast("B"), wire.size
        return wire.tobytes(), wire.size
    items = _as_sequence(value)
    if limits is not None:
        items = [_plain_int(item, value, native) for item in items]
    try:
        values = array.array(element.array_typecode, items)
    except (TypeError, OverflowError) as exc:
        raise type(exc)(f"cannot encode {value!r} as {native.name}: {exc}") from None
    if element.size > 1 and _LITTLE_ENDIAN:
        values.byteswap()
    return values.tobytes(), len(values)


def _plain_int(item: Any, value: object, native: ChannelType) -> int:
    """One element for an integer type without numpy: the same rules as with numpy."""
    number: int
    if isinstance(item, float):
        if item != item or item in (float("inf"), float("-inf")):
            raise _out_of_range(value, native)
        number = int(item)
    elif isinstance(item, int):
        number = item
    else:
        try:
            number = int(item.__index__())
        except (AttributeError, TypeError):
            raise TypeError(f"cannot encode {value!r} as {native.name}: {item!r} is not "
                            f"a number") from None
    low, high = _INT_RANGES[native]
    if not low <= number <= high:
        raise _out_of_range(value, native)
    return number


# --- metadata -------------------------------------------------------------------------

def decode_metadata(layout: DbrType, data: Buffer) -> Metadata | None:
    """The metadata structure at the start of ``data`` as a dict (None for native types)."""
    if not layout.fields:
        return None
    return _finish_metadata(dict(zip(layout.fields, layout.metadata.unpack_from(data))))


def _finish_metadata(metadata: Metadata) -> Metadata:
    """Give the raw structure items their meaning: timestamp, units text, enum strings."""
    if "seconds" in metadata:
        metadata["timestamp"] = (metadata["seconds"] + EPICS_EPOCH_OFFSET
                                 + metadata["nanoseconds"] * 1e-9)
    if "units" in metadata:
        metadata["units"] = decode_string(metadata["units"])
    if "strs" in metadata:
        raw = metadata.pop("strs")
        count = max(0, min(metadata.pop("no_str"), MAX_ENUM_STATES))
        metadata["enum_strs"] = tuple(
            decode_string(raw[i * MAX_ENUM_STRING_SIZE:(i + 1) * MAX_ENUM_STRING_SIZE])
            for i in range(count))
    return metadata


def epics_timestamp(posix_time: float) -> tuple[int, int]:
    """(seconds, nanoseconds) since the EPICS epoch of a POSIX time."""
    seconds = int(posix_time // 1)
    nanoseconds = int(round((posix_time - seconds) * 1e9))
    if nanoseconds >= 1_000_000_000:
        seconds, nanoseconds = seconds + 1, nanoseconds - 1_000_000_000
    return seconds - EPICS_EPOCH_OFFSET, nanoseconds


def encode_metadata(layout: DbrType, metadata: Metadata | None) -> bytes:
    """The metadata structure of ``layout`` from a dict; missing items are zero."""
    if not layout.fields:
        return b""
    metadata = dict(metadata or {})
    if "seconds" not in metadata and "timestamp" in metadata:
        metadata["seconds"], metadata["nanoseconds"] = epics_timestamp(metadata["timestamp"])
    if "enum_strs" in layout.fields or "strs" in layout.fields:
        strs = list(metadata.get("enum_strs", ()))
        if len(strs) > MAX_ENUM_STATES:
            raise ValueError(f"{len(strs)} enum strings given; at most {MAX_ENUM_STATES} fit")
        metadata["no_str"] = len(strs)
        metadata["strs"] = b"".join(
            encode_string(s, MAX_ENUM_STRING_SIZE, "enum string").ljust(MAX_ENUM_STRING_SIZE,
                                                                         b"\0")
            for s in strs)
    if "units" in layout.fields:
        metadata["units"] = encode_string(metadata.get("units", ""), MAX_UNITS_SIZE, "units")
    try:
        return layout.metadata.pack(*(metadata.get(name, 0) for name in layout.fields))
    except (struct.error, OverflowError) as exc:
        raise ValueError(f"metadata {metadata!r} does not fit {layout.type_id.name}: "
                         f"{exc}") from None


# --- whole payloads -------------------------------------------------------------------

def pad(data: bytes) -> bytes:
    """``data`` followed by zeros up to a multiple of 8 bytes."""
    remainder = len(data) % 8
    return data + b"\0" * (8 - remainder) if remainder else data


def encode_payload(type_id: int, value: Any,
                   metadata: Metadata | None = None) -> tuple[Buffer, int]:
    """(padded payload, element count) of ``value`` sent as ``type_id``."""
    layout = dbr_type(type_id)
    values, count = encode_values(layout.native, value)
    head = encode_metadata(layout, metadata)
    if not head and not len(values) % 8:
        return values, count  # nothing to add: a large array's bytes are not copied
    return pad(head + values), count


def decode_payload(type_id: int, payload: Buffer, count: int, use_numpy: bool = True,
                   allocate: Allocate | None = None) -> Decoded:
    """(metadata dict or None, values) of a payload of ``count`` elements of ``type_id``.

    Raises ValueError when the type id is unknown or the payload is too short for what
    the header announced.
    """
    decoder = _PAYLOAD_DECODERS.get(type_id)
    if decoder is None:
        raise ValueError(_not_a_type(type_id))
    return decoder(payload, count, use_numpy, allocate)


#: Decodes one DBR type's payload: (payload, count, use_numpy, allocate) -> (metadata,
#: values).
PayloadDecoder = Callable[[Buffer, int, bool, Optional[Allocate]], Decoded]

#: struct codes of the numeric types whose single values may go through struct (bit
#: exact: FLOAT is not among them, as a float32 NaN would be altered by the round trip
#: through a Python float).
_SCALAR_CODES = {ChannelType.INT: "h", ChannelType.ENUM: "H", ChannelType.CHAR: "B",
                 ChannelType.LONG: "i", ChannelType.DOUBLE: "d"}


def _payload_decoder(layout: DbrType) -> PayloadDecoder:
    """The decoding function of one DBR type: on the hot path of every data message.

    Specialised when built, so that a count-1 TIME_DOUBLE (the most common monitor
    update) costs one size check, two struct unpacks, a dict and a small array.
    """
    name = layout.type_id.name
    fields = layout.fields
    unpack_from = layout.metadata.unpack_from
    meta_size = layout.metadata.size
    element = _ELEMENTS[layout.native].size
    strings = layout.native == ChannelType.STRING
    values_of = _VALUE_DECODERS[layout.native]
    timed = fields == ("status", "severity", "seconds", "nanoseconds")
    other = bool({"units", "strs"} & set(fields))
    epoch = EPICS_EPOCH_OFFSET
    scalar = None
    if numpy is not None and layout.native in _SCALAR_CODES:
        scalar = struct.Struct(">" + _SCALAR_CODES[layout.native]).unpack_from
        new_array = numpy.empty
        native_dtype = numpy.dtype(_ELEMENTS[layout.native].numpy_dtype).newbyteorder("=")

    def decode(payload: Buffer, count: int, use_numpy: bool = True,
               allocate: Allocate | None = None) -> Decoded:
        size = len(payload)
        if size < meta_size + count * element and not (
                strings and count == 1 and size > meta_size):
            raise ValueError(f"{name} payload of {size} bytes is too short for {count} "
                             f"element(s): {meta_size + count * element} bytes needed")
        metadata: Metadata | None
        if timed:
            status, severity, seconds, nanoseconds = unpack_from(payload)
            metadata = {"status": status, "severity": severity, "seconds": seconds,
                        "nanoseconds": nanoseconds,
                        "timestamp": seconds + epoch + nanoseconds * 1e-9}
        elif fields:
            metadata = dict(zip(fields, unpack_from(payload)))
            if other:
                _finish_metadata(metadata)
        else:
            metadata = None
        # ``numpy`` is looked up at each call, so a test can take it away.
        if count == 1 and scalar is not None and use_numpy and numpy is not None:
            # One number, filled into an empty array: half the cost of numpy.array((x,)),
            # which works out the shape and type of its argument first.
            value = new_array(1, native_dtype)
            value[0] = scalar(payload, meta_size)[0]
            return metadata, value
        return metadata, values_of(payload, meta_size, count, use_numpy, allocate)

    return decode


_PAYLOAD_DECODERS: dict[int, PayloadDecoder] = {
    type_id: _payload_decoder(layout) for type_id, layout in DBR_TYPES.items()}
