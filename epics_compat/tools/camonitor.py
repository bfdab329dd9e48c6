"""epics-camonitor: print a line for every change of PVs, as EPICS base's camonitor does.

It runs until interrupted, like EPICS base's, or, with options EPICS base does not have,
until ``-C <n>`` (``--count``) updates have been printed or ``--duration <sec>`` seconds
have passed: handy in scripts and tests.
"""
from __future__ import annotations

import sys
import threading

import caproto_core as core

from . import _common, _format
from .caget import request_type

TOOL = "camonitor"

USAGE = """
Usage: epics-camonitor [options] <PV name> ...

  -h:       Help: Print this message
  -V:       Version: Show epics_compat and CA versions
  -v, --debug: Print the Channel Access messages exchanged (to stderr)
Channel Access options:
  -w <sec>: Wait time, specifies CA timeout, default is %(timeout)f second(s)
  -m <msk>: Specify CA event mask to use.  <msk> is any combination of
            'v' (value), 'a' (alarm), 'l' (log/archive), 'p' (property).
            Default event mask is 'va'
  -p <pri>: CA priority (0-99, default 0=lowest)
Ending (not in EPICS base's camonitor):
  -C <num>, --count <num>: Exit after <num> updates (of all PVs together)
  --duration <sec>: Exit after <sec> seconds
Timestamps:
  Default:  Print absolute timestamps (as reported by CA server)
  -t <key>: Specify timestamp source(s) and type, with <key> containing
            's' = CA server (remote) timestamps
            'c' = CA client (local) timestamps (shown in '()'s)
            'n' = no timestamps
            'r' = relative timestamps (time elapsed since start of program)
            'i' = incremental timestamps (time elapsed since last update)
            'I' = incremental timestamps (time since last update, by channel)
            'r', 'i' or 'I' require 's' or 'c' to select the time source
Enum format:
  -n:       Print DBF_ENUM values as number (default is enum string)
Array values: Print number of elements, then list of values
  Default:  Request and print all elements (dynamic arrays supported)
  -# <num>: Request and print up to <num> elements
  -S:       Print arrays of char as a string (long string)
Floating point format:
  Default:  Use %%g format
  -e <num>: Use %%e format, with a precision of <num> digits
  -f <num>: Use %%f format, with a precision of <num> digits
  -g <num>: Use %%g format, with a precision of <num> digits
  -s:       Get value as string (honors server-side precision)
  -lx:      Round to long integer and print as hex number
  -lo:      Round to long integer and print as octal number
  -lb:      Round to long integer and print as binary number
Integer number format:
  Default:  Print as decimal number
  -0x:      Print as hex number
  -0o:      Print as octal number
  -0b:      Print as binary number
Alternate output field separator:
  -F <ofs>: Use <ofs> to separate fields in output

Example: epics-camonitor -f8 my_channel another_channel
  (doubles are printed as %%f with precision of 8)
"""

MASK_LETTERS = {"v": core.SubscriptionType.DBE_VALUE, "a": core.SubscriptionType.DBE_ALARM,
                "l": core.SubscriptionType.DBE_LOG, "p": core.SubscriptionType.DBE_PROPERTY}
DEFAULT_MASK = core.SubscriptionType.DBE_VALUE | core.SubscriptionType.DBE_ALARM
TIMESTAMP_KINDS = {"r": _format.RELATIVE, "i": _format.INCREMENTAL,
                   "I": _format.INCREMENTAL_BY_CHANNEL}


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``epics-camonitor`` and ``python -m epics_compat.camonitor``."""
    return _common.run(_main, argv)


def _parse_mask(text: str) -> int:
    mask = 0
    for letter in text:
        if letter not in MASK_LETTERS:
            _common.warn("Invalid argument '%s' for option '-m' - ignored." % text)
            return DEFAULT_MASK
        mask |= MASK_LETTERS[letter]
    return mask or DEFAULT_MASK


def _parse_timestamps(text: str, wide: _format.WideFormat) -> None:
    wide.server = wide.client = False
    for key in text:
        if key == "s":
            wide.server = True
        elif key == "c":
            wide.client = True
        elif key in TIMESTAMP_KINDS:
            wide.kind = TIMESTAMP_KINDS[key]
        elif key != "n":
            _common.warn("Invalid argument '%s' for option '-t' - ignored." % key)


def _usage(settings: _common.Settings) -> str:
    return USAGE % {"timeout": settings.timeout}


def _main(argv: list[str]) -> int:
    options, names = _common.parse_options(TOOL, argv, "nhVvm:sSe:f:g:l:#:0:w:t:p:F:C:",
                                           ["count=", "duration="])
    formatter = _format.Formatter()
    wide = _format.WideFormat(formatter)
    mask: int = DEFAULT_MASK
    float_as_string = False
    requested = 0
    settings = _common.Settings(TOOL, _usage)
    max_updates = None
    duration = None
    for option, value in options:
        if settings.take(option, value):
            continue
        if option == "-n":
            formatter.enum_as_number = True
        elif option == "-t":
            _parse_timestamps(value, wide)
        elif option == "-#":
            requested = max(0, _common.parse_count(TOOL, value))
        elif option == "-m":
            mask = _parse_mask(value)
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
        elif option in ("-C", "--count"):
            max_updates = _common.parse_count(TOOL, value)
            if max_updates <= 0:
                raise _common.UsageError("'%s' is not a valid number of updates. "
                                         "('%s -h' for help.)"
                                         % (value, _common.program_name(TOOL)))
        elif option == "--duration":
            duration = _common.parse_timeout(TOOL, value, 0.0)
    if not names:
        raise _common.UsageError("No pv name specified. ('%s -h' for help.)"
                                 % _common.program_name(TOOL))
    session = settings.session()
    monitor = Monitor(wide, mask, requested, float_as_string, max_updates)
    try:
        return monitor.run(session, names, settings.timeout, duration)
    finally:
        monitor.stop()
        session.close()


class Monitor:
    """The subscriptions of one camonitor run and the printing of their updates.

    Connection changes and updates arrive on the client's callback thread, in order;
    the main thread waits until the run is over.
    """

    def __init__(self, wide: _format.WideFormat, mask: int, requested: int,
                 float_as_string: bool, max_updates: int | None):
        self.wide = wide
        self.mask = mask
        self.requested = requested
        self.float_as_string = float_as_string
        self.max_updates = max_updates
        self.updates = 0
        self.lock = threading.Lock()
        self.finished = threading.Event()
        self.broken_pipe = False
        self.pvs: dict[int, _format.PVState] = {}  # by chid
        self.subscribed: set[int] = set()

    def run(self, session: _common.Session, names: list[str], timeout: float,
            duration: float | None) -> int:
        channels = session.create(names)
        for channel in channels:
            self.pvs[channel.chid] = _format.PVState(channel.name)
            channel.connection_callbacks.append(self.on_connection)
            if channel.state == _common.CS_CONN:  # connected before the callback was in
                self.on_connection(channel, True)
        deadline = _common.deadline_after(duration or 0.0)
        connect_deadline = _common.deadline_after(timeout)
        for channel in channels:
            channel.connected.wait(_common.remaining(connect_deadline))
        never = [channel for channel in channels if not channel.connected.is_set()]
        for channel in never:
            _common.warn("Channel connect timed out: '%s' not found." % channel.name)
            self.write(self.wide.line(self.pvs[channel.chid], None))
        self.finished.wait(_common.remaining(deadline))
        if self.broken_pipe:
            raise BrokenPipeError()
        return 1 if any(not pv.once_connected for pv in self.pvs.values()) else 0

    def stop(self) -> None:
        self.finished.set()

    def write(self, line: str) -> None:
        with self.lock:
            if self.finished.is_set():
                return
            try:
                sys.stdout.write(line + "\n")
                sys.stdout.flush()
            except BrokenPipeError:
                self.broken_pipe = True
                self.finished.set()

    def on_connection(self, channel, connected: bool) -> None:
        pv = self.pvs[channel.chid]
        if not connected:
            self.write(self.wide.line(pv, None, self.requested, "disconnected"))
            return
        with self.lock:
            if channel.chid in self.subscribed:
                return  # the subscription is renewed by the client on reconnection
            self.subscribed.add(channel.chid)
        pv.once_connected = True
        data_type = request_type(channel.native_type, self.wide.formatter,
                                 self.float_as_string)
        count = min(self.requested, channel.native_count)
        channel.context.subscribe(channel, data_type, count, self.mask,
                                  lambda message: self.on_update(pv, message))

    def on_update(self, pv: _format.PVState, message) -> None:
        if message.status != core.EcaStatus.ECA_NORMAL or self.finished.is_set():
            return
        try:
            reading = _format.Reading.from_message(message)
        except core.ProtocolError as exc:
            _common.warn("%s: bad update: %s" % (pv.name, exc))
            return
        self.write(self.wide.line(pv, reading, self.requested))
        if self.max_updates is not None:
            with self.lock:
                self.updates += 1
                if self.updates >= self.max_updates:
                    self.finished.set()

