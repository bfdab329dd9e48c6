"""epics-caget: read and print the values of PVs, as EPICS base's caget does."""
from __future__ import annotations

import sys

import caproto_core as core
from caproto_core import ChannelType

from . import _common, _format

TOOL = "caget"

USAGE = """
Usage: epics-caget [options] <PV name> ...

  -h: Help: Print this message
  -V: Version: Show epics_compat and CA versions
  -v, --debug: Print the Channel Access messages exchanged (to stderr)
Channel Access options:
  -w <sec>: Wait time, specifies CA timeout, default is %(timeout)f second(s)
  -c: Asynchronous get (use ca_get_callback and wait for completion)
  -p <prio>: CA priority (0-99, default 0=lowest)
Format options:
      Default output format is "name value"
  -t: Terse mode - print only value, without name
  -a: Wide mode "name timestamp value stat sevr" (read PVs as DBR_TIME_xxx)
  -d <type>: Request specific dbr type; use string (DBR_ prefix may be omitted)
      or number of one of the following types:
%(types)s
Enum format:
  -n: Print DBF_ENUM value as number (default is enum string)
Arrays: Value format: print number of requested values, then list of values
  Default:    Print all values
  -# <count>: Print first <count> elements of an array
  -S:         Print array of char as a string (long string)
Floating point type format:
  Default: Use %%g format
  -e <nr>: Use %%e format, with a precision of <nr> digits
  -f <nr>: Use %%f format, with a precision of <nr> digits
  -g <nr>: Use %%g format, with a precision of <nr> digits
  -s:      Get value as string (honors server-side precision)
  -lx:     Round to long integer and print as hex number
  -lo:     Round to long integer and print as octal number
  -lb:     Round to long integer and print as binary number
Integer number format:
  Default: Print as decimal number
  -0x: Print as hex number
  -0o: Print as octal number
  -0b: Print as binary number
Alternate output field separator:
  -F <ofs>: Use <ofs> as an alternate output field separator

Example: epics-caget -a -f8 my_channel another_channel
  (uses wide output format, doubles are printed as %%f with precision of 8)
"""

PLAIN, TERSE, WIDE, SPECIFIED = "plain", "terse", "wide", "specified"


def type_table() -> str:
    """The DBR types in four columns, as caget -h lists them."""
    names = sorted(((type_id, name) for name, type_id in _format.DBR_TYPES_BY_NAME.items()
                    if type_id not in (35, 36)), key=lambda item: (item[0], "INT" in item[1]))
    cells = [" %-17s %2d" % (name, type_id) for type_id, name in names]
    rows = (len(cells) + 3) // 4
    return "\n".join("".join(cells[row + rows * col] for col in range(4)
                             if row + rows * col < len(cells)).rstrip()
                     for row in range(rows))


def request_type(native: int, formatter: _format.Formatter, float_as_string: bool) -> int:
    """The DBR_TIME_xxx type to ask for: enums as strings (or shorts with -n), floating
    point values as strings with -s (the server formats them with the record's PREC)."""
    if native == ChannelType.ENUM:
        return ChannelType.TIME_INT if formatter.enum_as_number else ChannelType.TIME_STRING
    if float_as_string and native in (ChannelType.FLOAT, ChannelType.DOUBLE):
        return ChannelType.TIME_STRING
    return core.promote(native, "time")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``epics-caget`` and ``python -m epics_compat.caget``."""
    return _common.run(_main, argv)


def _usage(settings: _common.Settings) -> str:
    return USAGE % {"timeout": settings.timeout, "types": type_table()}


def _main(argv: list[str]) -> int:
    options, names = _common.parse_options(TOOL, argv, "tacnhsSVve:f:g:l:#:d:0:w:p:F:")
    formatter = _format.Formatter()
    output = PLAIN
    callback = False
    float_as_string = False
    dbr_type = None
    requested = 0
    settings = _common.Settings(TOOL, _usage)
    for option, value in options:
        if settings.take(option, value):
            continue
        if option in ("-t", "-a", "-d"):
            if output != PLAIN:
                _common.warn("Options t,d,a are mutually exclusive. "
                             "('%s -h' for help.)" % _common.program_name(TOOL))
            output = {"-t": TERSE, "-a": WIDE, "-d": SPECIFIED}[option]
            if option == "-d":
                dbr_type = _format.parse_dbr_type(value)
                if dbr_type is None:
                    _common.warn("Requested dbr type out of range or invalid - ignored. "
                                 "('%s -h' for help.)" % _common.program_name(TOOL))
                    output = PLAIN
        elif option == "-c":
            callback = True
        elif option == "-n":
            formatter.enum_as_number = True
        elif option == "-#":
            requested = _common.parse_count(TOOL, value)
        elif option == "-s":
            float_as_string = True
        elif option == "-S":
            formatter.char_as_string = True
        elif option in ("-e", "-f", "-g"):
            _common.parse_float_format(option, value, formatter)
        elif option in ("-l", "-0"):
            _common.parse_int_format(option, value, formatter)
        elif option == "-F":
            formatter.separator = value[:1] or " "
    if not names:
        raise _common.UsageError("No pv name specified. ('%s -h' for help.)"
                                 % _common.program_name(TOOL))
    session = settings.session()
    try:
        return _caget(session, names, output, formatter, dbr_type, requested, callback,
                      float_as_string, settings.timeout)
    finally:
        session.close()


def _caget(session: _common.Session, names: list[str], output: str,
           formatter: _format.Formatter, dbr_type: int | None, requested: int,
           callback: bool, float_as_string: bool, timeout: float) -> int:
    connected = session.connect(names, timeout)
    trouble = len(connected) < len(names)
    requests = []
    for channel in connected:
        native = channel.native_type
        data_type = dbr_type if output == SPECIFIED and dbr_type is not None else \
            request_type(native, formatter, float_as_string)
        if requested < 0:
            count = channel.native_count  # a negative -# asks for everything, as in C
        elif callback:
            # ca_array_get_callback: 0 asks for the current length of a dynamic array.
            count = min(requested, channel.native_count)
        else:
            count = min(requested, channel.native_count) if requested \
                else channel.native_count
        requests.append(session.read(channel, data_type, count))
    deadline = _common.deadline_after(timeout)
    if not all([request.wait(deadline) for request in requests]):
        _common.warn("Read operation timed out: some PV data was not read.")
    wide = _format.WideFormat(formatter)
    lines = []
    for request in requests:
        reading = request.reading
        error = request.error
        trouble = trouble or reading is None
        name = request.channel.name
        if output == SPECIFIED:
            lines.append(_specified(request.channel, reading, error, formatter, requested))
        elif output == WIDE:
            pv = _format.PVState(name, once_connected=True)
            lines.append(wide.line(pv, reading, requested, error))
        else:
            count = reading.count if reading is not None else 0
            head = "" if output == TERSE else formatter.name(name, count) + formatter.separator
            if reading is None:
                lines.append(head + "*** " + str(error))
            else:
                lines.append(head + formatter.separator.join(formatter.fields(reading,
                                                                              requested)))
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
    return 1 if trouble else 0


def _specified(channel, reading: _format.Reading | None, error: str | None,
               formatter: _format.Formatter, requested: int) -> str:
    """The block that ``caget -d TYPE`` prints for one PV."""
    lines = [channel.name]
    if reading is None:
        lines.append("    *** " + str(error))
        return "\n".join(lines) + "\n"
    lines.append("    Native data type: %s" % _format.DBF_NAMES.get(channel.native_type,
                                                                    "TYPENOTCONN"))
    lines.append("    Request type:     %s" % _format.dbr_name(reading.data_type))
    if reading.data_type == ChannelType.CLASS_NAME:
        lines.append("    Class Name:       %s" % formatter.value(reading, 0))
        return "\n".join(lines) + "\n"
    lines.append("    Element count:    %d" % reading.count)
    values = formatter.separator.join(formatter.fields(reading, requested, with_count=False))
    lines.append("    Value:            " + values)
    details = formatter.details(reading)
    if details is not None:
        lines.append(details)
    return "\n".join(lines) + "\n"
