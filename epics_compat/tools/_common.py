"""What the command-line tools share: option parsing, logging, connecting channels.

Options are parsed with ``getopt``, as EPICS base's tools parse theirs, so that
``-f8``, ``-0x``, ``-# 5`` and grouped flags such as ``-tn`` mean what they mean there.
caget, camonitor and cainfo accept options after the PV names too (GNU getopt);
caput stops at the first PV name, so that negative values are values.
"""
from __future__ import annotations

import getopt
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import caproto_core as core

from .._context import CS_CONN, ChannelAccessError, ClientChannel, Context, Pending
from . import _format

#: Seconds to wait for connections and for data, unless -w or EPICS_CLI_TIMEOUT say.
DEFAULT_TIMEOUT = 1.0
#: Loggers that show the Channel Access messages exchanged (-v / --debug).
TRAFFIC_LOGGERS = ("caproto_core.circuit", "caproto_core.broadcaster", "epics_compat")
#: Long options every tool accepts (besides its own).
COMMON_LONG_OPTIONS = ["debug", "help"]


class UsageError(Exception):
    """A bad command line: the message goes to stderr and the tool exits with 1."""


class Finished(Exception):
    """-h or -V: the text is out, and the tool exits with 0."""


def program_name(tool: str) -> str:
    """The name the tool is documented under: 'epics-caget' for 'caget'."""
    return "epics-" + tool


def version_text() -> str:
    try:
        from importlib.metadata import version
        ours = version("epics_compat")
    except Exception:  # not installed, only on the path
        ours = "(unknown version)"
    return "\nepics_compat %s (pure-Python Channel Access client), CA Protocol version 4.%d\n" \
        % (ours, core.PROTOCOL_VERSION)


def parse_options(tool: str, argv: list[str], shortopts: str, longopts=(),
                  permute: bool = True) -> tuple[list[tuple[str, str]], list[str]]:
    """(options, arguments) of a command line; UsageError with EPICS base's wording."""
    parse = getopt.gnu_getopt if permute else getopt.getopt
    try:
        return parse(argv, shortopts, list(longopts) + COMMON_LONG_OPTIONS)
    except getopt.GetoptError as exc:
        option = ("-" if len(exc.opt) == 1 else "--") + exc.opt
        help_hint = "('%s -h' for help.)" % program_name(tool)
        if "requires argument" in exc.msg:
            raise UsageError("Option '%s' requires an argument. %s" % (option, help_hint)) \
                from None
        if "must not have an argument" in exc.msg:
            raise UsageError("Option '%s' takes no argument. %s" % (option, help_hint)) \
                from None
        raise UsageError("Unrecognized option: '%s'. %s" % (option, help_hint)) from None


def warn(message: str) -> None:
    """A message for the user on stderr (the tool goes on)."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def setup_logging(debug: bool) -> None:
    """Warnings of the client to stderr; with ``debug`` every CA message too."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(
        "%(asctime)s.%(msecs)03d %(name)s %(levelname)s: %(message)s", "%H:%M:%S"))
    for name in ("caproto_core", "epics_compat"):
        log = logging.getLogger(name)
        log.addHandler(handler)
        log.setLevel(logging.WARNING)
        log.propagate = False
    if debug:
        for name in TRAFFIC_LOGGERS:
            logging.getLogger(name).setLevel(logging.DEBUG)


def default_timeout() -> float:
    """EPICS_CLI_TIMEOUT from the environment, else DEFAULT_TIMEOUT."""
    text = os.environ.get("EPICS_CLI_TIMEOUT")
    if text is None:
        return DEFAULT_TIMEOUT
    try:
        return float(text)
    except ValueError:
        warn("'%s' is not a valid timeout value (from 'EPICS_CLI_TIMEOUT' in the "
             "environment) - ignored. (use '-h' for help.)" % text)
        return DEFAULT_TIMEOUT


def parse_timeout(tool: str, text: str, current: float) -> float:
    try:
        value = float(text)
    except ValueError:
        warn("'%s' is not a valid timeout value - ignored, using '%.1f'. ('%s -h' for help.)"
             % (text, current, program_name(tool)))
        return current
    return value


def parse_priority(tool: str, text: str) -> int:
    try:
        value = int(text)
        if value < 0:
            raise ValueError(text)
    except ValueError:
        warn("'%s' is not a valid CA priority - ignored. ('%s -h' for help.)"
             % (text, program_name(tool)))
        return 0
    return min(value, core.Priority.MAX)


def parse_count(tool: str, text: str) -> int:
    """The -# argument: 0 (all elements) when it is not a number."""
    try:
        return int(text)
    except ValueError:
        warn("'%s' is not a valid array element count - ignored. ('%s -h' for help.)"
             % (text, program_name(tool)))
        return 0


def parse_float_format(option: str, text: str, formatter: _format.Formatter) -> None:
    """-e/-f/-g <digits>: the C format of floating point values."""
    try:
        digits = int(text)
    except ValueError:
        warn("Invalid precision argument '%s' for option '%s' - ignored." % (text, option))
        return
    if 0 <= digits <= 18:
        formatter.double_format = "%%-.%d%s" % (digits, option[1])
    else:
        warn("Precision %d for option '%s' out of range - ignored." % (digits, option))


def parse_int_format(option: str, text: str, formatter: _format.Formatter) -> bool:
    """-0x/-0o/-0b (integers) and -lx/-lo/-lb (floats rounded); False if invalid."""
    style = _format.INT_FORMATS.get(text[:1])
    if style is None:
        warn("Invalid argument '%s' for option '%s' - ignored." % (text, option))
        return False
    if option == "-0":
        formatter.int_style = style
    else:
        formatter.float_style = style
    return True


def deadline_after(timeout: float) -> float | None:
    """The monotonic deadline of a wait; None (forever) for a timeout of 0, as in libca."""
    return None if timeout <= 0 else time.monotonic() + timeout


def remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


@dataclass
class Settings:
    """What the options every tool has set: -w, -p and -v; -h and -V end the run."""
    tool: str
    usage: Callable[[Settings], str]  # the -h text, showing this run's timeout
    timeout: float = field(default_factory=default_timeout)
    priority: int = 0
    debug: bool = False

    def take(self, option: str, value: str) -> bool:
        """Apply ``option`` if every tool has it; False if it is the tool's own."""
        if option in ("-h", "--help"):
            sys.stderr.write(self.usage(self) + "\n")
            raise Finished
        if option == "-V":
            sys.stdout.write(version_text())
            raise Finished
        if option in ("-v", "--debug"):
            self.debug = True
        elif option == "-w":
            self.timeout = parse_timeout(self.tool, value, self.timeout)
        elif option == "-p":
            self.priority = parse_priority(self.tool, value)
        else:
            return False
        return True

    def session(self) -> Session:
        """Logging as -v asked, and the client context of the run."""
        setup_logging(self.debug)
        return Session(self.priority)


@dataclass
class Session:
    """One client context and the channels of one tool run."""
    priority: int = 0
    context: Context = field(default_factory=Context)
    channels: list[ClientChannel] = field(default_factory=list)

    def create(self, names: list[str]) -> list[ClientChannel]:
        self.channels = [self.context.create_channel(name, self.priority) for name in names]
        return self.channels

    def connect(self, names: list[str], timeout: float) -> list[ClientChannel]:
        """Create channels and wait for all of them; report those that did not connect
        ('Channel connect timed out: 'x' not found.') and return the connected ones."""
        channels = self.create(names)
        deadline = deadline_after(timeout)
        for channel in channels:
            channel.connected.wait(remaining(deadline))
        missing = [channel for channel in channels if channel.state != CS_CONN]
        for channel in missing:
            warn("Channel connect timed out: '%s' not found." % channel.name)
        return [channel for channel in channels if channel.state == CS_CONN]

    def read(self, channel: ClientChannel, data_type: int, count: int) -> Request:
        """Send a read; the Request says why it failed at once, if it did."""
        if channel.state != CS_CONN:
            return Request(channel, error_status=core.EcaStatus.ECA_DISCONN)
        if not channel.access_rights & core.AccessRights.READ:
            return Request(channel, error_status=core.EcaStatus.ECA_NORDACCESS)
        try:
            return Request(channel, self.context.read(channel, data_type, count))
        except ChannelAccessError:
            return Request(channel, error_status=core.EcaStatus.ECA_DISCONN)

    def close(self) -> None:
        self.context.destroy()


@dataclass
class Request:
    """A read in flight, or one that could not be sent (``error_status``)."""
    channel: ClientChannel
    pending: Pending | None = None
    error_status: int | None = None

    def wait(self, deadline: float | None) -> bool:
        return self.pending is None or self.pending.wait(remaining(deadline))

    @property
    def reading(self) -> _format.Reading | None:
        """The data, once it came and if it came without error."""
        pending = self.pending
        if pending is None or not pending.done.is_set() or pending.error is not None \
                or pending.result is None:
            return None
        return _format.Reading.from_message(pending.result)

    @property
    def error(self) -> str | None:
        """None, or the text after '***' in EPICS base's output when there is no data."""
        if self.error_status == core.EcaStatus.ECA_DISCONN:
            return "not connected"
        if self.error_status == core.EcaStatus.ECA_NORDACCESS:
            return "no read access"
        if self.error_status is not None:
            return "CA error %s" % core.eca_message(self.error_status)
        pending = self.pending
        if pending is None or not pending.done.is_set():
            return "no data available (timeout)"
        if pending.error is not None:
            return "CA error %s" % pending.error
        return None


def run(main_function, argv: list[str] | None) -> int:
    """Run a tool's main: Ctrl-C and a closed stdout end it quietly."""
    try:
        return main_function(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        warn(str(exc))
        return 1
    except Finished:
        return 0
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``| head``): stop writing, quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
