"""epics-caput: write a value (or an array) to a PV, as EPICS base's caput does.

Like EPICS base, values travel as strings (DBR_STRING) and the server converts them
to the field's type, except for enums, whose strings are matched (or numbers sent as
numbers) here, and for ``-S``, which sends the text as an array of chars.
"""
from __future__ import annotations

import sys
import threading

import caproto_core as core
from caproto_core import ChannelType

from .._context import ChannelAccessError, WriteAccessDenied
from . import _common, _format

TOOL = "caput"

USAGE = """
Usage: epics-caput [options] <PV name> <PV value> ...
       epics-caput -a [options] <PV name> <no of values> <PV value> ...

  -h: Help: Print this message
  -V: Version: Show epics_compat and CA versions
  -v, --debug: Print the Channel Access messages exchanged (to stderr)
Channel Access options:
  -w <sec>:  Wait time, specifies CA timeout, default is %(timeout)f second(s)
  -c: Asynchronous put (use ca_put_callback and wait for completion)
  -p <prio>: CA priority (0-99, default 0=lowest)
Format options:
  -t: Terse mode - print only successfully written value, without name
  -l: Long mode "name timestamp value stat sevr" (read PVs as DBR_TIME_xxx)
Enum format:
  Default: Auto - try value as ENUM string, then as index number
  -n: Force interpretation of values as numbers
  -s: Force interpretation of values as strings
Arrays:
  Default: Put scalar
      Value format: all value arguments concatenated with spaces
  -S: Put string as an array of chars (long string)
  -a: Put array
      Value format: number of values, then list of values
Alternate output field separator:
  -F <ofs>: Use <ofs> as an alternate output field separator

Example: epics-caput my_channel 1.2
  (puts 1.2 to my_channel)
"""

PLAIN, TERSE, WIDE = "plain", "terse", "wide"


class PutError(Exception):
    """The put cannot be done; the message goes to stderr."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``epics-caput`` and ``python -m epics_compat.caput``."""
    return _common.run(_main, argv)


def _usage(settings: _common.Settings) -> str:
    return USAGE % {"timeout": settings.timeout}


def _main(argv: list[str]) -> int:
    # Options end at the PV name (POSIX getopt), so that "-5" after it is a value.
    options, arguments = _common.parse_options(TOOL, argv, "cnlhatsVvS#:w:p:F:",
                                               permute=False)
    formatter = _format.Formatter()
    output = PLAIN
    callback = False
    array = False
    enum_as_string = False
    settings = _common.Settings(TOOL, _usage)
    for option, value in options:
        if settings.take(option, value):
            continue
        if option == "-n":
            formatter.enum_as_number, enum_as_string = True, False
        elif option == "-s":
            formatter.enum_as_number, enum_as_string = False, True
        elif option == "-S":
            formatter.char_as_string, array = True, False
        elif option == "-a":
            formatter.char_as_string, array = False, True
        elif option == "-t":
            output = TERSE
        elif option == "-l":
            output = WIDE
        elif option == "-c":
            callback = True
        elif option == "-#":
            _common.parse_count(TOOL, value)  # accepted; the values give the count
        elif option == "-F":
            formatter.separator = value[:1] or " "
    hint = "('%s -h' for help.)" % _common.program_name(TOOL)
    if not arguments:
        raise _common.UsageError("No pv name specified. " + hint)
    if len(arguments) == 1:
        raise _common.UsageError("No value specified. " + hint)
    name, values = arguments[0], arguments[1:]
    if array:
        values = values[1:]  # the number of values: the values themselves count
        if not values:
            raise _common.UsageError("No value specified. " + hint)
    else:
        values = [" ".join(values)]
    session = settings.session()
    try:
        connected = session.connect([name], settings.timeout)
        if not connected:
            return 1
        return _caput(session, connected[0], values, output, formatter, callback,
                      enum_as_string, settings.timeout)
    except PutError as exc:
        _common.warn(str(exc))
        return 1
    finally:
        session.close()


def _caput(session: _common.Session, channel, values: list[str], output: str,
           formatter: _format.Formatter, callback: bool, enum_as_string: bool,
           timeout: float) -> int:
    data: list | bytes
    if channel.native_type == ChannelType.ENUM:
        data_type, data = _enum_values(session, channel, values, formatter.enum_as_number,
                                       enum_as_string, timeout)
    elif formatter.char_as_string:
        # The text and its terminating NUL, as an array of chars.
        data_type, data = ChannelType.CHAR, _format.unescape(values[0]) + b"\0"
    else:
        data_type, data = ChannelType.STRING, [_string(value) for value in values]
    count = len(data)
    if count > channel.native_count:
        raise PutError("Error from put operation: %s"
                       % core.eca_message(core.EcaStatus.ECA_BADCOUNT))

    if output != TERSE:
        sys.stdout.write("Old : " + _read_back(session, channel, output, formatter,
                                               timeout) + "\n")
        sys.stdout.flush()

    done = threading.Event()
    try:
        pending = session.context.write(channel, data if count > 1 or data_type ==
                                        ChannelType.CHAR else data[0], data_type, count,
                                        callback, (lambda pending: done.set())
                                        if callback else None)
    except WriteAccessDenied:
        raise PutError("Error from put operation: %s"
                       % core.eca_message(core.EcaStatus.ECA_NOWTACCESS)) from None
    except ChannelAccessError:
        raise PutError("Error from put operation: %s"
                       % core.eca_message(core.EcaStatus.ECA_DISCONN)) from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise PutError("Error from put operation: %s (%s)" % (
            core.eca_message(core.EcaStatus.ECA_BADTYPE), exc)) from None
    status: int = 0
    if callback:
        if not done.wait(_common.remaining(_common.deadline_after(timeout))):
            # EPICS base goes on (and exits with 0); the exit status tells here.
            _common.warn("Write callback operation timed out")
            status = 1
        elif pending is not None and pending.error is not None:
            raise PutError("Error occurred writing data: %s" % pending.error)

    new = _read_back(session, channel, output, formatter, timeout)
    sys.stdout.write(("" if output == TERSE else "New : ") + new + "\n")
    sys.stdout.flush()
    return status


def _string(value: str) -> bytes:
    """A value argument as a DBR string: escapes translated, at most 39 bytes."""
    return _format.unescape(value)[:core.MAX_STRING_SIZE - 1]


def _enum_values(session, channel, values: list[str], as_number: bool, as_string: bool,
                 timeout: float) -> tuple[int, list]:
    """(type, data) of values for an enum: state strings go as strings, anything else
    as numbers (DBR_DOUBLE), unless -n or -s forces one way."""
    request = session.read(channel, ChannelType.GR_ENUM, 1)
    request.wait(_common.deadline_after(timeout))
    reading = request.reading
    if reading is None:
        raise PutError("Read operation timed out: ENUM data was not read.")
    states = [_format.text_bytes(text) for text in (reading.metadata or {}).get("enum_strs",
                                                                               ())]
    numbers: list[float] = []
    strings: list[bytes] = []
    for value in values:
        text = value if as_number else _string(value).decode("utf-8", "surrogateescape")
        if not as_number and _format.text_bytes(text) in states:
            strings.append(_format.text_bytes(text))
            numbers.append(float(states.index(_format.text_bytes(text))))
            continue
        number = _format.strtod(text)
        if number is None or (as_string and not as_number):
            if as_number:
                raise PutError("Enum index value '%s' is not a number." % value)
            raise PutError("Enum string value '%s' invalid." % text)
        if number >= len(states):
            _common.warn("Warning: enum index value '%s' may be too large." % value)
        numbers.append(number)
    if len(strings) == len(values):
        return ChannelType.STRING, strings
    return ChannelType.DOUBLE, numbers


def _read_back(session, channel, output: str, formatter: _format.Formatter,
               timeout: float) -> str:
    """The value as the "Old :" and "New :" lines show it."""
    native = channel.native_type
    if native == ChannelType.ENUM:
        data_type = ChannelType.TIME_INT if formatter.enum_as_number \
            else ChannelType.TIME_STRING
    else:
        data_type = core.promote(native, "time")
    request = session.read(channel, data_type, channel.native_count)
    if not request.wait(_common.deadline_after(timeout)):
        _common.warn("Read operation timed out: PV data was not read.")
    reading = request.reading
    count = channel.native_count
    if output == WIDE:
        pv = _format.PVState(channel.name, once_connected=True, count=count)
        return _format.WideFormat(formatter).line(pv, reading, 0, request.error)
    head = "" if output == TERSE else formatter.name(channel.name, count) + \
        formatter.separator
    if reading is None:
        return head + "*** " + request.error
    return head + formatter.separator.join(formatter.fields(reading, 0))
