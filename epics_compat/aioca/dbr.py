"""aioca's data types: the DBR request codes, the formats, and the "augmented" values
(a str, int, float, bytes or numpy array that also carries name, ok, timestamp, alarm
and control fields), made from caproto_core's decoded messages.

Importable as ``epicscorelibs.ca.dbr`` after ``install_as_aioca()``, for code (such as
ophyd-async) that reads aioca's constants from there.
"""
from __future__ import annotations

import datetime
from typing import Any, Callable

import numpy as np

import caproto_core as core

__all__ = [
    "DBR_STRING", "DBR_SHORT", "DBR_FLOAT", "DBR_ENUM", "DBR_CHAR", "DBR_LONG", "DBR_DOUBLE",
    "DBR_CHAR_STR", "DBR_CHAR_BYTES", "DBR_CHAR_UNICODE", "DBR_ENUM_STR", "DBR_PUT_ACKT",
    "DBR_PUT_ACKS", "DBR_STSACK_STRING", "DBR_CLASS_NAME", "FORMAT_RAW", "FORMAT_TIME",
    "FORMAT_CTRL", "ca_extra_fields", "ca_str", "ca_bytes", "ca_int", "ca_float",
    "ca_array", "InvalidDatatype",
]

# The basic types, numbered as Channel Access numbers them.
DBR_STRING, DBR_SHORT, DBR_FLOAT, DBR_ENUM, DBR_CHAR, DBR_LONG, DBR_DOUBLE = range(7)
DBR_TIME_STRING, DBR_CTRL_STRING = 14, 28
DBR_PUT_ACKT = 35  # sets whether transient alarms must be acknowledged
DBR_PUT_ACKS = 36  # acknowledges alarms up to a severity
DBR_STSACK_STRING = 37  # the value as a string, with alarm and acknowledgement state
DBR_CLASS_NAME = 38  # the record type
# aioca's own requests, turned into one of the above before anything is sent.
DBR_ENUM_STR = 996  # the native type, except enums as their strings
DBR_CHAR_BYTES = 997  # a char array as bytes
DBR_CHAR_UNICODE = 998  # a char array as str (strict UTF-8)
DBR_CHAR_STR = 999  # a char array as str

FORMAT_RAW, FORMAT_TIME, FORMAT_CTRL = 0, 1, 2

#: Every field an augmented value may carry.
ca_extra_fields = [
    "name", "ok", "datatype", "element_count", "severity", "status", "raw_stamp",
    "timestamp", "datetime", "units", "upper_disp_limit", "lower_disp_limit",
    "upper_alarm_limit", "lower_alarm_limit", "upper_warning_limit",
    "lower_warning_limit", "upper_ctrl_limit", "lower_ctrl_limit", "precision", "enums",
]

MAX_STRING_SIZE = core.MAX_STRING_SIZE
BASIC_TYPES = frozenset(range(7))
CHAR_AS_TEXT = (DBR_CHAR_STR, DBR_CHAR_BYTES, DBR_CHAR_UNICODE)
#: numpy dtype of each basic type's elements (native byte order).
ELEMENT_DTYPES = {DBR_SHORT: np.int16, DBR_FLOAT: np.float32, DBR_ENUM: np.uint16,
                  DBR_CHAR: np.uint8, DBR_LONG: np.int32, DBR_DOUBLE: np.float64}
#: numpy type characters a datatype may be given as, and the basic type each means.
_TYPE_CHARACTERS = {"b": DBR_CHAR, "B": DBR_CHAR, "?": DBR_CHAR, "h": DBR_SHORT,
                    "H": DBR_SHORT, "i": DBR_LONG, "I": DBR_LONG, "l": DBR_LONG,
                    "L": DBR_LONG, "f": DBR_FLOAT, "d": DBR_DOUBLE, "S": DBR_STRING,
                    "U": DBR_STRING}
_LIMITS = ("upper_disp_limit", "lower_disp_limit", "upper_alarm_limit",
           "lower_alarm_limit", "upper_warning_limit", "lower_warning_limit",
           "upper_ctrl_limit", "lower_ctrl_limit")


class InvalidDatatype(Exception):
    """A datatype that Channel Access cannot carry."""


def _as_datetime(self) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(self.timestamp)


class ca_str(str):
    """A string read over Channel Access, with the fields of its request."""
    datetime = property(_as_datetime)

    def __pos__(self) -> str:
        return str(self)


class ca_bytes(bytes):
    """A byte string read over Channel Access, with the fields of its request."""
    datetime = property(_as_datetime)

    def __pos__(self) -> bytes:
        return bytes(self)


class ca_int(int):
    """An integer read over Channel Access, with the fields of its request."""
    datetime = property(_as_datetime)


class ca_float(float):
    """A float read over Channel Access, with the fields of its request."""
    datetime = property(_as_datetime)


class ca_array(np.ndarray):
    """An array read over Channel Access, with the fields of its request."""
    datetime = property(_as_datetime)
    __hash__ = None  # type: ignore[assignment]

    def __pos__(self) -> np.ndarray:  # type: ignore[override]  # a plain array, as aioca
        return np.array(self)


_SCALARS: dict[int, type] = {DBR_SHORT: ca_int, DBR_ENUM: ca_int, DBR_CHAR: ca_int,
                             DBR_LONG: ca_int, DBR_FLOAT: ca_float, DBR_DOUBLE: ca_float}


def basic_type(datatype: Any) -> int:
    """The basic DBR type of a DBR code, Python type or numpy dtype."""
    if isinstance(datatype, int) and datatype in BASIC_TYPES:
        return datatype
    try:
        return _TYPE_CHARACTERS[np.dtype(datatype).char]
    except (TypeError, KeyError):
        raise InvalidDatatype(f'Datatype "{datatype}" not supported for channel access') \
            from None


def _requested_type(native_type: int, name: str, datatype: Any) -> Any:
    """The datatype asked for, with aioca's defaults: native, char arrays of names
    ending in '$' as strings, and DBR_ENUM_STR as the native type but enums as strings."""
    if datatype is None:
        if native_type == DBR_CHAR and name.endswith("$"):
            return DBR_CHAR_STR
        return native_type
    if datatype == DBR_ENUM_STR:
        return DBR_STRING if native_type == DBR_ENUM else native_type
    return datatype


class ReadRequest:
    """What to ask the server for a get or a subscription, and how to turn each answer
    into an augmented value."""
    __slots__ = ("name", "dbr_code", "datatype", "element_count", "_convert")

    def __init__(self, name: str, native_type: int, element_count: int, datatype: Any,
                 format: int):
        self.name = name
        self.element_count = element_count
        wanted = _requested_type(native_type, name, datatype)
        if wanted in (DBR_STSACK_STRING, DBR_CLASS_NAME):
            self.dbr_code = self.datatype = wanted  # the format means nothing to them
        else:
            base = DBR_CHAR if wanted in CHAR_AS_TEXT else basic_type(wanted)
            self.datatype = base
            if format == FORMAT_RAW:
                self.dbr_code = base
            elif format == FORMAT_TIME:
                self.dbr_code = base + 14
            elif format == FORMAT_CTRL:
                # Strings have no CTRL form: the richest there is comes instead.
                self.dbr_code = DBR_TIME_STRING if base == DBR_STRING else base + 28
            else:
                raise InvalidDatatype("Format not recognised")
        self._convert = _converter(wanted, self.datatype, element_count)

    def value(self, metadata: dict | None, values) -> Any:
        """The augmented value of one answer's decoded payload."""
        result = self._convert(values)
        if metadata:
            _add_fields(result, self.dbr_code, metadata)
        result.name = self.name
        result.ok = True
        result.element_count = self.element_count
        result.datatype = self.datatype
        return result


def _converter(wanted: Any, base: int, element_count: int) -> Callable[[Any], Any]:
    if base == DBR_CHAR and wanted in CHAR_AS_TEXT:
        return _CHAR_TEXT[wanted]
    if base in (DBR_STRING, DBR_STSACK_STRING, DBR_CLASS_NAME):
        as_bytes = isinstance(wanted, type) and issubclass(wanted, bytes)
        strict = isinstance(wanted, type) and issubclass(wanted, str)
        if element_count == 1:
            return lambda values: _one_string(values, as_bytes, strict)
        return lambda values: _string_array(values, as_bytes, strict)
    scalar, dtype = _SCALARS[base], ELEMENT_DTYPES[base]
    if element_count == 1:
        return lambda values: scalar(values[0]) if len(values) else \
            np.zeros(0, dtype).view(ca_array)
    return lambda values: _owned_array(values, dtype).view(ca_array)


def _owned_array(values, dtype) -> np.ndarray:
    """The values as an array the caller may keep and change: the decoded array itself
    when it is writable (converted for this one answer), else a copy."""
    array = np.asarray(values, dtype=dtype)
    return array if array.flags.writeable else array.copy()


def _text_bytes(values) -> bytes:
    raw = np.asarray(values, dtype=np.uint8).tobytes()
    end = raw.find(b"\0")
    return raw if end < 0 else raw[:end]


_CHAR_TEXT = {
    DBR_CHAR_STR: lambda values: ca_str(_text_bytes(values).decode("utf-8", "replace")),
    DBR_CHAR_BYTES: lambda values: ca_bytes(_text_bytes(values)),
    DBR_CHAR_UNICODE: lambda values: ca_str(_text_bytes(values).decode("utf-8")),
}


def _raw(text: str) -> bytes:
    """The bytes the server sent for a decoded string (the core decodes losslessly)."""
    return text.encode("utf-8", "surrogateescape")


def _text(text: str, strict: bool) -> str:
    return _raw(text).decode("utf-8", "strict" if strict else "replace")


def _one_string(values, as_bytes: bool, strict: bool):
    text = values[0] if len(values) else ""
    return ca_bytes(_raw(text)) if as_bytes else ca_str(_text(text, strict))


def _string_array(values, as_bytes: bool, strict: bool) -> ca_array:
    items = [_raw(text) if as_bytes else _text(text, strict) for text in values]
    width = max((len(item) for item in items), default=1) or 1
    result = np.empty(len(items), dtype=f"{'S' if as_bytes else 'U'}{width}").view(ca_array)
    result[:] = items
    return result


def _add_fields(result, dbr_code: int, metadata: dict) -> None:
    result.status = metadata["status"]
    result.severity = metadata["severity"]
    if "seconds" in metadata:
        seconds = metadata["seconds"] + core.EPICS_EPOCH_OFFSET
        nanoseconds = metadata["nanoseconds"]
        result.raw_stamp = (seconds, nanoseconds)
        result.timestamp = round(seconds + nanoseconds * 1e-9, 6)
    elif "enum_strs" in metadata:
        result.enums = list(metadata["enum_strs"])
    elif "ackt" in metadata:
        result.ackt, result.acks = metadata["ackt"], metadata["acks"]
    elif "units" in metadata:
        result.units = metadata["units"]
        for limit in _LIMITS:
            setattr(result, limit, metadata[limit])
        if "precision" in metadata:
            result.precision = metadata["precision"]


def write_request(native_type: int, name: str, datatype: Any, value: Any
                  ) -> tuple[int, Any, int]:
    """(DBR code, data, count) that write ``value`` as aioca would: strings as strings
    (the IOC converts them), other values as the channel's native type, char arrays of
    names ending in '$' from a str."""
    if datatype is None:
        if isinstance(value, (str, bytes)):
            datatype = DBR_STRING
        elif native_type == DBR_CHAR and name.endswith("$"):
            datatype = DBR_CHAR_STR
        else:
            datatype = native_type
    if datatype == DBR_CHAR_STR:
        data = np.frombuffer(value.encode("utf-8"), dtype=np.uint8)
        return DBR_CHAR, data, len(data)
    if datatype in (DBR_PUT_ACKT, DBR_PUT_ACKS):
        return datatype, [int(value)], 1
    dbr_code = basic_type(datatype)
    if dbr_code == DBR_STRING:
        items = np.atleast_1d(np.asarray(value, dtype=object))
        strings = [item if isinstance(item, bytes) else str(item).encode("utf-8")
                   for item in items.ravel()]
        if items.ndim != 1:
            raise ValueError("Can't put multidimensional arrays!")
        return DBR_STRING, strings, len(strings)
    array = np.atleast_1d(np.asarray(value, dtype=ELEMENT_DTYPES[dbr_code]))
    if array.ndim != 1:
        raise ValueError("Can't put multidimensional arrays!")
    return dbr_code, array, len(array)
