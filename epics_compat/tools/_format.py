"""Text output of the command-line tools, laid out as EPICS base's catools print it.

EPICS base formats values in its ``tool_lib.c``; shell scripts parse that output, so the
rules are followed closely: names padded to 30 columns for scalars, the element count
before array values, ``%g`` for floating point numbers, C escapes for unprintable bytes,
status and severity after the value in the wide format, and two empty fields instead
when there is no alarm.
"""
from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import Sequence

import caproto_core as core
from caproto_core import ChannelType

#: Alarm status and severity names, as EPICS base's alarmString.h spells them.
STATUS_NAMES = tuple(status.name for status in sorted(core.AlarmStatus))
SEVERITY_NAMES = ("NO_ALARM", "MINOR", "MAJOR", "INVALID")

#: Field (DBF) type names by native type id; -1 is a channel that never connected.
DBF_NAMES = {-1: "TYPENOTCONN", 0: "DBF_STRING", 1: "DBF_SHORT", 2: "DBF_FLOAT",
             3: "DBF_ENUM", 4: "DBF_CHAR", 5: "DBF_LONG", 6: "DBF_DOUBLE"}

_NATIVE_NAMES = ("STRING", "SHORT", "FLOAT", "ENUM", "CHAR", "LONG", "DOUBLE")
_FAMILY_PREFIXES = ("DBR_", "DBR_STS_", "DBR_TIME_", "DBR_GR_", "DBR_CTRL_")
_SPECIAL_NAMES = {35: "DBR_PUT_ACKT", 36: "DBR_PUT_ACKS", 37: "DBR_STSACK_STRING",
                  38: "DBR_CLASS_NAME"}


def dbr_name(type_id: int) -> str:
    """'DBR_TIME_DOUBLE' for 20: the name EPICS base prints for a request type."""
    if 0 <= type_id < 35:
        return _FAMILY_PREFIXES[type_id // 7] + _NATIVE_NAMES[type_id % 7]
    return _SPECIAL_NAMES.get(type_id, "TYPENOTCONN")


def _dbr_types_by_name() -> dict[str, int]:
    names = {dbr_name(type_id): type_id for type_id in range(39)}
    # EPICS base accepts INT wherever it says SHORT.
    names.update({name.replace("SHORT", "INT"): type_id for name, type_id in names.items()
                  if "SHORT" in name})
    return names


DBR_TYPES_BY_NAME = _dbr_types_by_name()


def parse_dbr_type(text: str) -> int | None:
    """A request type given as a number or a name (the 'DBR_' prefix may be left out).

    None if it is not a type a client may request (0..38 without DBR_PUT_ACKT/ACKS).
    """
    text = text.strip()
    number = re.match(r"[+-]?\d+", text)
    type_id: int | None
    if number:
        type_id = int(number.group())  # like sscanf("%d"): trailing text is ignored
    else:
        name = text.upper()
        type_id = DBR_TYPES_BY_NAME.get(name, DBR_TYPES_BY_NAME.get("DBR_" + name))
    if type_id is None or not 0 <= type_id <= 38 or type_id in (35, 36):
        return None
    return type_id


def status_name(status: int) -> str:
    return STATUS_NAMES[status] if 0 <= status < len(STATUS_NAMES) else "??"


def severity_name(severity: int) -> str:
    return SEVERITY_NAMES[severity] if 0 <= severity < len(SEVERITY_NAMES) else "??"


# --- C escapes --------------------------------------------------------------------------

_ESCAPES = {0x07: "\\a", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t",
            0x0B: "\\v", 0x5C: "\\\\", 0x27: "\\'", 0x22: '\\"', 0x00: "\\0"}
_UNESCAPES = {"a": 0x07, "b": 0x08, "f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B,
              "\\": 0x5C, "'": 0x27, '"': 0x22, "0": 0x00}
_HEX_DIGITS = "0123456789abcdefABCDEF"


def escape(raw: bytes) -> str:
    """Bytes as printable text: C escapes for control characters, quotes and backslash,
    ``\\xNN`` for every other byte outside printable ASCII (EPICS' C locale)."""
    out = []
    for byte in raw:
        text = _ESCAPES.get(byte)
        if text is None:
            text = chr(byte) if 0x20 <= byte < 0x7F else "\\x%02x" % byte
        out.append(text)
    return "".join(out)


def unescape(text: str) -> bytes:
    """The bytes a command-line argument stands for: C escapes (``\\n``, ``\\x41``, ...)
    are translated, as EPICS base's tools translate them; the text ends at a NUL."""
    raw = text_bytes(text)
    out = bytearray()
    i = 0
    while i < len(raw):
        byte = raw[i]
        i += 1
        if byte == 0:
            break
        if byte != 0x5C:  # not a backslash
            out.append(byte)
            continue
        if i >= len(raw):
            break
        code = chr(raw[i])
        i += 1
        if code == "x":
            digits = ""
            while len(digits) < 2 and i < len(raw) and chr(raw[i]) in _HEX_DIGITS:
                digits += chr(raw[i])
                i += 1
            if digits:
                out.append(int(digits, 16))
            continue  # "\x" without digits: nothing, the next character goes on
        out.append(_UNESCAPES.get(code, ord(code)))
    return bytes(out)


def text_bytes(value: str) -> bytes:
    """A decoded DBR string back as the bytes the server sent."""
    return value.encode("utf-8", "surrogateescape")


# --- numbers ----------------------------------------------------------------------------

DEC, BIN, OCT, HEX = "dec", "bin", "oct", "hex"
INT_FORMATS = {"x": HEX, "o": OCT, "b": BIN}


def format_long(value: int, style: str = DEC) -> str:
    """An integer as EPICS base prints a dbr_long_t: ``0xFF``, ``0o17``, or bare binary
    digits; negative numbers show their 32-bit two's complement in those bases."""
    if style == DEC:
        return "%d" % value
    unsigned = value & 0xFFFFFFFF
    if style == HEX:
        return "0x%X" % unsigned
    if style == OCT:
        return "0o%o" % unsigned
    return format(unsigned, "b")


def round_to_long(value: float) -> int:
    """A float rounded half away from zero to a 32-bit integer, as the C tools do."""
    if math.isnan(value) or math.isinf(value):
        return -2 ** 31
    rounded = int(value + 0.5) if value > 0.0 else int(value - 0.5)
    return (rounded + 2 ** 31) % 2 ** 32 - 2 ** 31


_STRTOD = re.compile(
    r"\s*([+-]?)(?:(0x(?:[0-9a-f]+\.?[0-9a-f]*|\.[0-9a-f]+)(?:p[+-]?\d+)?)"
    r"|((?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)|(inf(?:inity)?|nan))", re.IGNORECASE)


def strtod(text: str) -> float | None:
    """The number at the start of ``text`` (C strtod: leading blanks, decimal or hex,
    inf and nan; trailing text ignored), or None when there is none."""
    match = _STRTOD.match(text)
    if match is None:
        return None
    sign, hexadecimal, decimal, special = match.groups()
    if hexadecimal:
        number = float.fromhex(hexadecimal)
    else:
        number = float(decimal or special)
    return -number if sign == "-" else number


# --- values -----------------------------------------------------------------------------

@dataclass
class Reading:
    """The data of one response: DBR type, element count, values and metadata."""
    data_type: int
    count: int
    values: Sequence
    metadata: dict | None

    @classmethod
    def from_message(cls, message) -> "Reading":
        return cls(message.data_type, message.data_count, message.data, message.metadata)

    @property
    def native(self) -> ChannelType:
        return core.native_type(self.data_type)

    @property
    def family(self) -> str:
        return core.dbr_type(self.data_type).family


@dataclass
class Formatter:
    """How values are printed: the formatting options shared by the tools."""
    double_format: str = "%g"  # -e/-f/-g
    int_style: str = DEC  # -0x/-0o/-0b
    float_style: str = DEC  # -lx/-lo/-lb
    enum_as_number: bool = False  # -n
    char_as_string: bool = False  # -S
    separator: str = " "  # -F

    def value(self, reading: Reading, index: int) -> str:
        """One element as text (EPICS base's val2str)."""
        native = reading.native
        item = reading.values[index]
        if native == ChannelType.STRING:
            return escape(text_bytes(item))
        if native in (ChannelType.FLOAT, ChannelType.DOUBLE):
            number = float(item)
            if self.float_style != DEC:
                return format_long(round_to_long(number), self.float_style)
            return self.double_format % number
        if native == ChannelType.CHAR:
            byte = int(item) & 0xFF
            return "%d" % (byte - 256 if byte > 127 else byte)  # a C char: signed
        if native == ChannelType.ENUM:
            index_value = int(item)
            if reading.family in ("gr", "ctrl") and not self.enum_as_number:
                strings = (reading.metadata or {}).get("enum_strs", ())
                if index_value >= core.MAX_ENUM_STATES:
                    return "Illegal Value (%d)" % index_value
                if index_value >= len(strings):
                    return "Enum Index Overflow (%d)" % index_value
                return strings[index_value]
            return "%d" % index_value
        return format_long(int(item), self.int_style)

    def is_char_string(self, reading: Reading, requested: int) -> bool:
        """Whether -S prints this reading as one string."""
        return (self.char_as_string and reading.native == ChannelType.CHAR
                and bool(requested or reading.count > 1))

    def char_string(self, reading: Reading) -> str:
        raw = bytes(int(item) & 0xFF for item in reading.values[:reading.count])
        return escape(raw.split(b"\0", 1)[0])

    def fields(self, reading: Reading, requested: int, with_count: bool = True) -> list[str]:
        """The value fields of a line: the count of an array first, then each element;
        or with -S, a char array as one string."""
        if self.is_char_string(reading, requested):
            return [self.char_string(reading)]
        out = ["%d" % reading.count] if with_count and (requested or reading.count > 1) \
            else []
        out.extend(self.value(reading, i) for i in range(min(reading.count,
                                                             len(reading.values))))
        return out

    def name(self, name: str, count: int) -> str:
        """The PV name column: padded to 30 for a scalar with the default separator."""
        if count <= 1 and self.separator == " ":
            return "%-30s" % name
        return name

    def details(self, reading: Reading) -> str | None:
        """The metadata lines of ``caget -d`` (EPICS base's dbr2str); None for plain
        types."""
        md = reading.metadata or {}
        family = reading.family
        native = reading.native
        if family == "native" or reading.data_type == ChannelType.CLASS_NAME:
            return None
        if family == "special":  # DBR_STSACK_STRING
            return "\n".join([
                "    Status:           %s" % status_name(md.get("status", 0)),
                "    Severity:         %s" % severity_name(md.get("severity", 0)),
                "    Ack transient?:   %s" % ("YES" if md.get("ackt") else "NO"),
                "    Ack severity:     %s" % severity_name(md.get("acks", 0))])
        lines = ["    Status:           %s" % status_name(md.get("status", 0)),
                 "    Severity:         %s" % severity_name(md.get("severity", 0))]
        if family == "time":
            stamp = epics_stamp_ns(md.get("seconds", 0), md.get("nanoseconds", 0))
            return "\n".join(["    Timestamp:        %s" % absolute_time(stamp)] + lines)
        if family == "sts" or native == ChannelType.STRING:
            return "\n".join(lines)
        if native == ChannelType.ENUM:
            strings = md.get("enum_strs", ())
            lines.append("    Enums:            (%2d)" % len(strings))
            lines.extend("                      [%2d] %s" % (i, text)
                         for i, text in enumerate(strings))
            return "\n".join(lines)
        floating = native in (ChannelType.FLOAT, ChannelType.DOUBLE)
        number = (lambda v: "%g" % float(v)) if floating else (lambda v: "%8d" % int(v))
        if native == ChannelType.CHAR:
            number = (lambda v: "%8d" % ((int(v) & 0xFF) - 256 if int(v) & 0x80 else int(v)))
        lines.append("    Units:            %s" % md.get("units", ""))
        if floating:
            lines.append("    Precision:        %d" % md.get("precision", 0))
        limits = [("Lo disp limit:    ", "lower_disp_limit"),
                  ("Hi disp limit:    ", "upper_disp_limit"),
                  ("Lo alarm limit:   ", "lower_alarm_limit"),
                  ("Lo warn limit:    ", "lower_warning_limit"),
                  ("Hi warn limit:    ", "upper_warning_limit"),
                  ("Hi alarm limit:   ", "upper_alarm_limit")]
        if family == "ctrl":
            limits += [("Lo ctrl limit:    ", "lower_ctrl_limit"),
                       ("Hi ctrl limit:    ", "upper_ctrl_limit")]
        lines.extend("    %s%s" % (label, number(md.get(key, 0))) for label, key in limits)
        return "\n".join(lines)


# --- timestamps -------------------------------------------------------------------------

def epics_stamp_ns(seconds: int, nanoseconds: int) -> int:
    """An EPICS timestamp (seconds since 1990) as nanoseconds since the POSIX epoch."""
    return (seconds + core.EPICS_EPOCH_OFFSET) * 1_000_000_000 + nanoseconds


def absolute_time(stamp_ns: int) -> str:
    """'2024-05-01 10:00:00.123456' in local time, microseconds truncated, as EPICS base's
    '%Y-%m-%d %H:%M:%S.%06f'."""
    seconds, nanoseconds = divmod(stamp_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) + \
        ".%06d" % (nanoseconds // 1000)


ABSOLUTE, RELATIVE, INCREMENTAL, INCREMENTAL_BY_CHANNEL = "abs", "rel", "inc", "incch"


@dataclass
class PVState:
    """What the wide output format remembers about one PV between lines."""
    name: str
    once_connected: bool = False
    count: int = 0
    first_stamp_printed: bool = False
    previous_client: int = 0
    previous_server: int = 0


@dataclass
class WideFormat:
    """Lines of ``caget -a`` and ``camonitor``: name, timestamp, value, status, severity.

    Timestamps come from the server (``server``), the client (``client``, in
    parentheses) or both; ``kind`` makes them absolute or relative to the start (of the
    program for client times, of the first update for server times) or to the previous
    update (of any PV, or of the same PV).
    """
    formatter: Formatter
    server: bool = True
    client: bool = False
    kind: str = ABSOLUTE
    start: int = field(default_factory=time.time_ns)
    first_server: int | None = None
    previous_client: int = 0
    previous_server: int = 0

    def line(self, pv: PVState, reading: Reading | None, requested: int = 0,
             error: str | None = None) -> str:
        """One output line (without newline) for a reading, or for the state of a PV
        without one: ``error`` is 'disconnected', 'no read access', a CA error text..."""
        sep = self.formatter.separator
        now = time.time_ns()
        if reading is not None:
            pv.count = reading.count
        head = self.formatter.name(pv.name, pv.count) + sep
        if not pv.once_connected:
            return head + "*** Not connected (PV not found)"
        if reading is None:
            return head + "%s *** %s" % (absolute_time(now), error or
                                         "no data available (timeout)")
        md = reading.metadata or {}
        server_stamp = epics_stamp_ns(md.get("seconds", 0), md.get("nanoseconds", 0))
        text = head + self._stamps(pv, server_stamp, now)
        text += "".join(sep + item for item in self.formatter.fields(reading, requested))
        status, severity = md.get("status", 0), md.get("severity", 0)
        if status or severity:
            return text + sep + status_name(status) + sep + severity_name(severity)
        return text + sep + sep

    def _stamps(self, pv: PVState, server_stamp: int, now: int) -> str:
        absolute = not pv.first_stamp_printed
        if self.first_server is None:
            self.first_server = server_stamp
        if self.kind == RELATIVE:
            reference_client, reference_server = self.start, self.first_server
        elif self.kind == INCREMENTAL:
            reference_client, reference_server = self.previous_client, self.previous_server
        elif self.kind == INCREMENTAL_BY_CHANNEL:
            reference_client, reference_server = pv.previous_client, pv.previous_server
        else:
            absolute = True
            reference_client = reference_server = 0
        text = ""
        if absolute:
            if self.server:
                text += absolute_time(server_stamp)
            if self.client:
                text += "(%s)" % absolute_time(now)
            pv.first_stamp_printed = True
        else:
            if self.server:
                text += "              %+12.6f" % ((server_stamp - reference_server) / 1e9)
            if self.client:
                text += "              (%+12.6f)" % ((now - reference_client) / 1e9)
        pv.previous_client, pv.previous_server = now, server_stamp
        self.previous_client, self.previous_server = now, server_stamp
        return text
