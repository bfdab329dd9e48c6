"""Conversions between a PV's native type and the DBR type a client asks for.

They follow what the EPICS IOC does (dbConvert and cvtFast in EPICS base 7), so that a
client sees the same values here as from a softIoc: numbers become strings with the PV's
precision, strings are parsed as numbers, an enum becomes its state string, and a double
cast to an integer type truncates, wraps, and turns NaN or overflow into INT_MIN first.
A conversion that makes no sense (text that is not a number) raises ``ConversionError``.
"""
from __future__ import annotations

import math
import struct
from typing import Any, Sequence

from caproto_core import MAX_ENUM_STATES, ChannelType

try:
    import numpy
except ImportError:  # the server works without numpy, on lists
    numpy = None  # type: ignore[assignment]  # tested for None wherever it is used

STRING, SHORT, FLOAT, ENUM, CHAR, LONG, DOUBLE = (ChannelType(i) for i in range(7))
NUMERIC = (SHORT, FLOAT, ENUM, CHAR, LONG, DOUBLE)
INTEGER = (SHORT, ENUM, CHAR, LONG)

#: Bits and signedness of the integer types on the wire.
_INTEGER_LAYOUT = {SHORT: (16, True), ENUM: (16, False), CHAR: (8, False), LONG: (32, True)}
_NUMPY_DTYPES = {SHORT: "int16", FLOAT: "float32", ENUM: "uint16", CHAR: "uint8",
                 LONG: "int32", DOUBLE: "float64"}
_INT32_MIN = -2 ** 31
_FLOAT32 = struct.Struct("f")
_FLOAT32_MAX = 3.4028234663852886e38
#: What an enum index without a state string reads as (mbbo's answer above 15).
ILLEGAL_ENUM_STRING = "Illegal Value"
#: Default digits after the point when a PV has no precision (dbConvert's default).
DEFAULT_PRECISION = 6


class ConversionError(ValueError):
    """A value that cannot be converted to the requested type (ECA_GETFAIL/ECA_PUTFAIL)."""


# --- scalars ------------------------------------------------------------------------------

def to_float32(value: float) -> float:
    """``value`` rounded to single precision (overflow gives an infinity, as in C)."""
    if value != value or math.isinf(value):
        return value
    if abs(value) > _FLOAT32_MAX:
        # Rounds to infinity unless it is within half an ulp of FLT_MAX.
        try:
            return _FLOAT32.unpack(_FLOAT32.pack(value))[0]
        except OverflowError:
            return math.copysign(math.inf, value)
    return _FLOAT32.unpack(_FLOAT32.pack(value))[0]


def wrap_integer(number: int, native: ChannelType) -> int:
    """``number`` cast to the C integer type of ``native`` (two's complement wrap)."""
    bits, signed = _INTEGER_LAYOUT[native]
    number &= (1 << bits) - 1
    if signed and number >= 1 << (bits - 1):
        number -= 1 << bits
    return number


def number_to_integer(value: Any, native: ChannelType) -> int:
    """A number as the C cast to ``native`` gives it on x86-64: via a 32-bit conversion."""
    if isinstance(value, float) or (numpy is not None and isinstance(value, numpy.floating)):
        value = float(value)
        if value != value or not _INT32_MIN <= value < 2 ** 31:
            value = _INT32_MIN
        else:
            value = int(value)  # truncates towards zero
    return wrap_integer(int(value), native)


def parse_number(text: str, native: ChannelType) -> float | int:
    """Text as a number of ``native`` the way an IOC parses it (blank is zero)."""
    stripped = text.strip()
    if not stripped:
        return 0.0 if native in (FLOAT, DOUBLE) else 0
    try:
        if native in (FLOAT, DOUBLE):
            number = float(stripped)
            return to_float32(number) if native == FLOAT else number
        try:
            number = int(stripped, 0)
        except ValueError:
            if stripped.lstrip("+-").isdigit():  # C's base 0: a leading zero means octal
                number = int(stripped, 8)
            else:
                number = float(stripped)
        return number_to_integer(number, native)
    except ValueError:
        raise ConversionError(f"{text!r} is not a number") from None


def _fast_fixed(value: float, precision: int, single: bool) -> str:
    """cvtFast's fixed-point path (values below 1e7, precision up to 8), rounding half up."""
    r = to_float32 if single else float
    sign = ""
    if value < 0:
        sign, value = "-", -value
    whole = int(value)
    fraction_part = r(value - whole)
    multiplier = 10 ** precision
    fraction = int(r(r(fraction_part * multiplier) * 10))
    fraction = (fraction + 5) // 10
    if fraction // multiplier >= 1:
        whole += 1
        fraction -= multiplier
    text = sign + str(whole)
    if precision > 0:
        text += "." + str(fraction).rjust(precision, "0")
    return text


def format_double(value: float, precision: int) -> str:
    """A DOUBLE as an IOC writes it into a DBR_STRING (cvtDoubleToString)."""
    precision = max(0, precision)
    if value != value or precision > 8 or not -1e7 <= value <= 1e7:
        if precision > 8 or value > 1e16 or value < -1e16:
            precision = min(precision, 17)
            return "%*.*e" % (precision + 7, precision, value)
        return "%.*f" % (min(precision, 3), value)
    return _fast_fixed(value, precision, single=False)


def format_float(value: float, precision: int) -> str:
    """A FLOAT as an IOC writes it into a DBR_STRING (cvtFloatToString)."""
    value = to_float32(value)
    precision = max(0, precision)
    if value != value or precision > 8 or not -1e7 <= value <= 1e7:
        if precision > 8 or value >= 1e8 or value <= -1e8:
            precision = min(precision, 12)
            return "%*.*e" % (precision + 6, precision, value)
        return "%.*f" % (min(precision, 3), value)
    return _fast_fixed(value, precision, single=True)


def enum_to_string(index: int, enum_strs: Sequence[str]) -> str:
    if not enum_strs:
        raise ConversionError(f"enum index {index} has no state strings to read as text")
    if index < len(enum_strs):
        return enum_strs[index]
    return "" if index < MAX_ENUM_STATES else ILLEGAL_ENUM_STRING


def string_to_enum(text: str, enum_strs: Sequence[str]) -> int:
    """A state string, or a state number written as text, as an enum index.

    Without state strings any whole number that fits 16 bits will do (and nothing else,
    not even '12.5', as epicsParseUInt16 in the IOC).
    """
    if text in enum_strs:
        return list(enum_strs).index(text)
    if not enum_strs:
        try:
            index = int(text.strip(), 0) if text.strip() else 0
        except ValueError:
            raise ConversionError(f"{text!r} is not a whole number") from None
        if not 0 <= index <= 0xFFFF:
            raise ConversionError(f"{text!r} does not fit an enum (0..65535)")
        return index
    index = int(parse_number(text, LONG))  # an int already: LONG parses whole numbers
    if not 0 <= index < max(MAX_ENUM_STATES, len(enum_strs)):
        raise ConversionError(f"{text!r} is not one of the states {tuple(enum_strs)!r}")
    return index


# --- whole values ----------------------------------------------------------------------------

def convert(values: Sequence, source: ChannelType, target: ChannelType,
            enum_strs: Sequence[str] = (), precision: int | None = None) -> Sequence:
    """``values`` of native type ``source`` as values of native type ``target``.

    ``enum_strs`` are the states of an ENUM PV (whichever side it is on); ``precision``
    formats FLOAT and DOUBLE as text. Returns a list, or a numpy array when the input
    is one and both types are numbers.
    """
    if source == target:
        return values
    if target == STRING:
        return [_to_string(v, source, enum_strs, precision) for v in values]
    if source == STRING:
        if target == ENUM:
            return [string_to_enum(v, enum_strs) for v in values]
        return [parse_number(v, target) for v in values]
    if numpy is not None and isinstance(values, numpy.ndarray):
        return _convert_array(values, target)
    if target == DOUBLE:
        return [float(v) for v in values]
    if target == FLOAT:
        return [to_float32(float(v)) for v in values]
    return [number_to_integer(v, target) for v in values]


def _to_string(value, source: ChannelType, enum_strs: Sequence[str],
               precision: int | None) -> str:
    if precision is None:
        precision = DEFAULT_PRECISION
    if source == DOUBLE:
        return format_double(float(value), precision)
    if source == FLOAT:
        return format_float(float(value), precision)
    if source == ENUM:
        return enum_to_string(int(value), enum_strs)
    return str(int(value))


def _convert_array(values, target: ChannelType):
    """Numbers to numbers, vectorised, with the C cast rules of ``number_to_integer``."""
    dtype = _NUMPY_DTYPES[target]
    if target in (FLOAT, DOUBLE):
        with numpy.errstate(over="ignore", invalid="ignore"):
            return values.astype(dtype)
    if values.dtype.kind == "f":
        with numpy.errstate(invalid="ignore"):
            bad = ~((values >= _INT32_MIN) & (values < 2 ** 31))  # NaN is bad too
            values = numpy.where(bad, _INT32_MIN, values).astype("int64")
    return values.astype("int64").astype(dtype)  # two's complement wrap


def cast_numbers(values: Sequence, native: ChannelType) -> Sequence:
    """Numbers of any numeric type as the elements of a PV of ``native``.

    The result is a numpy array of the native type when numpy is importable, else a list.
    """
    if numpy is not None:
        dtype = _NUMPY_DTYPES[native]
        if isinstance(values, numpy.ndarray) and values.dtype == dtype and values.ndim == 1:
            return values
        array = numpy.asarray(values).reshape(-1)
        if array.dtype.kind not in "biuf":
            raise ConversionError(f"{values!r} are not numbers")
        if array.dtype.kind in "biu":
            array = array.astype("int64")
        return _convert_array(array, native)
    if native == DOUBLE:
        return [float(v) for v in values]
    if native == FLOAT:
        return [to_float32(float(v)) for v in values]
    return [number_to_integer(v, native) for v in values]


def zeros(native: ChannelType, count: int) -> list:
    """``count`` zero values of ``native`` (empty strings for STRING)."""
    return [""] * count if native == STRING else [0] * count


def resize(values: Sequence, native: ChannelType, count: int) -> Sequence:
    """Exactly ``count`` values: truncated, or padded with zeros as rsrv pads a read."""
    length = len(values)
    if length == count:
        return values
    if length > count:
        return values[:count]
    if numpy is not None and isinstance(values, numpy.ndarray):
        return numpy.concatenate([values, numpy.zeros(count - length, values.dtype)])
    return list(values) + zeros(native, count - length)
