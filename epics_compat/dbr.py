"""DBR type numbers, event masks, status codes and alarm enums, as pyepics' ``epics.dbr``.

The same names and values as pyepics 3.5, taken from caproto_core's tables so that there
is one source of truth. Channel ids (``chid_t``) are ctypes longs, as in pyepics, though
no C library is behind them.
"""
from __future__ import annotations

import ctypes
import enum
from typing import Any

import caproto_core as _core
from caproto_core import ChannelType as _T

try:
    import numpy
    HAS_NUMPY = True
except ImportError:
    numpy = None  # type: ignore[assignment]  # HAS_NUMPY says which
    HAS_NUMPY = False

PY64_WINDOWS = False  # no C library, so no Windows-specific ctypes layout

ECA_NORMAL = int(_core.EcaStatus.ECA_NORMAL)
ECA_TIMEOUT = int(_core.EcaStatus.ECA_TIMEOUT)
ECA_IODONE = int(_core.EcaStatus.ECA_IODONE)
ECA_ISATTACHED = int(_core.EcaStatus.ECA_ISATTACHED)
ECA_BADCHID = int(_core.EcaStatus.ECA_BADCHID)

# Connection states (ca_state) and connection events.
CS_NEVER_CONN = 0
CS_PREV_CONN = 1
CS_CONN = 2
CS_CLOSED = 3
CS_NEVER_SEARCH = 4
OP_CONN_UP = 6
OP_CONN_DOWN = 7

STRING = int(_T.STRING)
INT = SHORT = int(_T.INT)
FLOAT = int(_T.FLOAT)
ENUM = int(_T.ENUM)
CHAR = int(_T.CHAR)
LONG = int(_T.LONG)
DOUBLE = int(_T.DOUBLE)

TIME_STRING = int(_T.TIME_STRING)
TIME_INT = TIME_SHORT = int(_T.TIME_INT)
TIME_FLOAT = int(_T.TIME_FLOAT)
TIME_ENUM = int(_T.TIME_ENUM)
TIME_CHAR = int(_T.TIME_CHAR)
TIME_LONG = int(_T.TIME_LONG)
TIME_DOUBLE = int(_T.TIME_DOUBLE)

CTRL_STRING = int(_T.CTRL_STRING)
CTRL_INT = CTRL_SHORT = int(_T.CTRL_INT)
CTRL_FLOAT = int(_T.CTRL_FLOAT)
CTRL_ENUM = int(_T.CTRL_ENUM)
CTRL_CHAR = int(_T.CTRL_CHAR)
CTRL_LONG = int(_T.CTRL_LONG)
CTRL_DOUBLE = int(_T.CTRL_DOUBLE)

PUT_ACKT = int(_T.PUT_ACKT)
PUT_ACKS = int(_T.PUT_ACKS)
STSACK_STRING = int(_T.STSACK_STRING)
CLASS_NAME = int(_T.CLASS_NAME)

MAX_STRING_SIZE = _core.MAX_STRING_SIZE
MAX_UNITS_SIZE = _core.MAX_UNITS_SIZE
MAX_ENUM_STRING_SIZE = _core.MAX_ENUM_STRING_SIZE
MAX_ENUMS = _core.MAX_ENUM_STATES

EPICS2UNIX_EPOCH = float(_core.EPICS_EPOCH_OFFSET)

DBE_VALUE = int(_core.SubscriptionType.DBE_VALUE)
DBE_LOG = int(_core.SubscriptionType.DBE_LOG)
DBE_ALARM = int(_core.SubscriptionType.DBE_ALARM)
DBE_PROPERTY = int(_core.SubscriptionType.DBE_PROPERTY)

chid_t = ctypes.c_long
short_t = ctypes.c_short
ushort_t = ctypes.c_ushort
int_t = ctypes.c_int
uint_t = ctypes.c_uint
long_t = ctypes.c_long
ulong_t = ctypes.c_ulong
float_t = ctypes.c_float
double_t = ctypes.c_double
byte_t = ctypes.c_byte
ubyte_t = ctypes.c_ubyte
string_t = ctypes.c_char * MAX_STRING_SIZE
char_t = ctypes.c_char
char_p = ctypes.c_char_p
void_p = ctypes.c_void_p
py_obj = ctypes.py_object

#: Control-limit names, in the order of the C structures.
ctrl_limits = ('upper_disp_limit', 'lower_disp_limit', 'upper_alarm_limit',
               'upper_warning_limit', 'lower_warning_limit', 'lower_alarm_limit',
               'upper_ctrl_limit', 'lower_ctrl_limit')


class TimeStamp(ctypes.Structure):
    """An EPICS timestamp: seconds and nanoseconds since 1990."""
    _fields_ = [('secs', uint_t), ('nsec', uint_t)]


def make_unixtime(stamp) -> float:
    """POSIX time of an EPICS timestamp, to the microsecond, as pyepics computes it."""
    return EPICS2UNIX_EPOCH + stamp.secs + 1.e-6 * int(1.e-3 * stamp.nsec)


# The C structures of db_access.h, as ctypes structures with pyepics' names and layouts.
# No C library fills them here, but a caller can build one, read its fields, and cast a
# buffer of DBR bytes (in host byte order) to it; ``value_offset`` says where the values
# start in each type's buffer.
_STATUS = [('status', short_t), ('severity', short_t)]
_STAMPED = _STATUS + [('stamp', TimeStamp)]
_UNITS = ('units', char_t * MAX_UNITS_SIZE)
_PRECISION = [('precision', short_t), ('RISC_pad', short_t)]


def _structure(name: str, doc: str, fields: list) -> type:
    return type(name, (ctypes.Structure,), {'__doc__': doc, '_fields_': fields})


def _limits(ctype) -> list:
    return [(limit, ctype) for limit in ctrl_limits]


time_string = _structure('time_string', 'dbr time string',
                         _STAMPED + [('value', char_t * MAX_STRING_SIZE)])
time_short = _structure('time_short', 'dbr time short',
                        _STAMPED + [('RISC_pad', short_t), ('value', short_t)])
time_float = _structure('time_float', 'dbr time float', _STAMPED + [('value', float_t)])
time_enum = _structure('time_enum', 'dbr time enum',
                       _STAMPED + [('RISC_pad', short_t), ('value', ushort_t)])
time_char = _structure('time_char', 'dbr time char',
                       _STAMPED + [('RISC_pad0', short_t), ('RISC_pad1', byte_t),
                                   ('value', byte_t)])
time_long = _structure('time_long', 'dbr time long', _STAMPED + [('value', int_t)])
time_double = _structure('time_double', 'dbr time double',
                         _STAMPED + [('RISC_pad', int_t), ('value', double_t)])

ctrl_enum = _structure('ctrl_enum', 'dbr ctrl enum',
                       _STATUS + [('no_str', short_t),
                                  ('strs', (char_t * MAX_ENUM_STRING_SIZE) * MAX_ENUMS),
                                  ('value', ushort_t)])
ctrl_short = _structure('ctrl_short', 'dbr ctrl short',
                        _STATUS + [_UNITS] + _limits(short_t) + [('value', short_t)])
# byte_t limits and a ubyte_t value, as in pyepics (C has dbr_char_t, unsigned, for both).
ctrl_char = _structure('ctrl_char', 'dbr ctrl char',
                       _STATUS + [_UNITS] + _limits(byte_t)
                       + [('RISC_pad', byte_t), ('value', ubyte_t)])
ctrl_long = _structure('ctrl_long', 'dbr ctrl long',
                       _STATUS + [_UNITS] + _limits(int_t) + [('value', int_t)])
ctrl_float = _structure('ctrl_float', 'dbr ctrl float',
                        _STATUS + _PRECISION + [_UNITS] + _limits(float_t)
                        + [('value', float_t)])
ctrl_double = _structure('ctrl_double', 'dbr ctrl double',
                         _STATUS + _PRECISION + [_UNITS] + _limits(double_t)
                         + [('value', double_t)])

#: Byte offset of the first value in a buffer of each DBR type (0..38), as libca's
#: ``dbr_value_offset``: the size of the type's metadata with its padding.
value_offset = (39 * ctypes.c_short)(*(_core.dbr_type(t).metadata.size for t in range(39)))

NP_Map = {}
if HAS_NUMPY:
    NP_Map = {INT: numpy.int16, FLOAT: numpy.float32, ENUM: numpy.uint16,
              CHAR: numpy.uint8, LONG: numpy.int32, DOUBLE: numpy.float64}

#: ctypes type of one element of each native type, and the structure of each TIME and
#: CTRL type (C has no dbr_ctrl_string: CTRL_STRING maps to time_string, as in pyepics).
Map: dict[int, Any] = {
    STRING: string_t, INT: short_t, FLOAT: float_t, ENUM: ushort_t, CHAR: ubyte_t,
    LONG: int_t, DOUBLE: double_t,
    TIME_STRING: time_string, TIME_SHORT: time_short, TIME_FLOAT: time_float,
    TIME_ENUM: time_enum, TIME_CHAR: time_char, TIME_LONG: time_long,
    TIME_DOUBLE: time_double,
    CTRL_STRING: time_string, CTRL_SHORT: ctrl_short, CTRL_FLOAT: ctrl_float,
    CTRL_ENUM: ctrl_enum, CTRL_CHAR: ctrl_char, CTRL_LONG: ctrl_long,
    CTRL_DOUBLE: ctrl_double}

_NAMES = {t: _T(t).name for first in (STRING, TIME_STRING, CTRL_STRING)
          for t in range(first, first + 7)}
# pyepics names the promoted shorts SHORT, the native one INT.
_NAMES.update({TIME_SHORT: 'TIME_SHORT', CTRL_SHORT: 'CTRL_SHORT'})


def native_type(ftype: int) -> int:
    """The native type of a TIME or CTRL type (CTRL_STRING counts as TIME_STRING)."""
    if ftype == CTRL_STRING:
        ftype = TIME_STRING
    if ftype > CTRL_STRING:
        return ftype - CTRL_STRING
    if ftype >= TIME_STRING:
        return ftype - TIME_STRING
    return ftype


def Name(ftype, reverse: bool = False):
    """The name of a type number ('DOUBLE', 'TIME_SHORT', ...), or with ``reverse`` the
    number of a name."""
    if reverse:
        name = str(ftype).upper()
        for number, known in _NAMES.items():
            if known == name:
                return number
    return _NAMES.get(ftype, 'unknown')


class DefaultIntEnum(enum.IntEnum):
    """An IntEnum that shows unknown values as UNKNOWN instead of raising."""

    @classmethod
    def _missing_(cls, value):
        unknown = int.__new__(cls, value)
        unknown._name_ = "UNKNOWN"
        unknown._value_ = value
        return unknown

    def __repr__(self):
        return self.name


class AlarmStatus(DefaultIntEnum):
    NO_ALARM = 0
    READ = 1
    WRITE = 2
    HIHI = 3
    HIGH = 4
    LOLO = 5
    LOW = 6
    STATE = 7
    COS = 8
    COMM = 9
    TIMEOUT = 10
    HW_LIMIT = 11
    CALC = 12
    SCAN = 13
    LINK = 14
    SOFT = 15
    BAD_SUB = 16
    UDF = 17
    DISABLE = 18
    SIMM = 19
    READ_ACCESS = 20
    WRITE_ACCESS = 21


class AlarmSeverity(DefaultIntEnum):
    NO_ALARM = 0
    MINOR = 1
    MAJOR = 2
    INVALID = 3


# The argument structures libca passes to its callbacks. Nothing here calls them from C,
# but code written against pyepics' ctypes layer can build, read and cast them.
class event_handler_args(ctypes.Structure):
    """What a get or subscription callback receives: the DBR buffer and its type."""
    _fields_ = [('usr', py_obj), ('chid', chid_t), ('type', long_t), ('count', long_t),
                ('raw_dbr', void_p), ('status', int_t)]


class connection_args(ctypes.Structure):
    """What a connection callback receives: the channel and OP_CONN_UP/OP_CONN_DOWN."""
    _fields_ = [('chid', chid_t), ('op', long_t)]


class access_rights_handler_args(ctypes.Structure):
    """What an access-rights callback receives: the channel and its rights bits."""
    _fields_ = [('chid', chid_t), ('access', ubyte_t)]


def cast_args(args) -> list:
    """The metadata structure and the values of an ``event_handler_args``' buffer.

    Returns ``[structure, values]``: ``structure`` is None for a native type, and both
    are None for a type without a structure here (reading such a buffer would mean
    guessing its layout).
    """
    ftype = args.type
    if ftype not in Map:
        return [None, None]
    native = native_type(ftype)
    values_at = args.raw_dbr + value_offset[ftype]
    values = ctypes.cast(values_at, ctypes.POINTER(args.count * Map[native])).contents
    if ftype == native:
        return [None, values]
    return [ctypes.cast(args.raw_dbr, ctypes.POINTER(Map[ftype])).contents, values]


def make_callback(func, args):
    """``func`` as a C function pointer taking one ``args`` structure, as libca calls."""
    return ctypes.CFUNCTYPE(None, args)(func)
