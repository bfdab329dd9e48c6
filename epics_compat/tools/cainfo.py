"""epics-cainfo: print what the client knows about PVs' channels, as EPICS base's cainfo."""
from __future__ import annotations

import sys

import caproto_core as core

from . import _common, _format

TOOL = "cainfo"

USAGE = """
Usage: epics-cainfo [options] <PV name> ...

  -h: Help: Print this message
  -V: Version: Show epics_compat and CA versions
  -v, --debug: Print the Channel Access messages exchanged (to stderr)
Channel Access options:
  -w <sec>:   Wait time, specifies CA timeout, default is %(timeout)f second(s)
  -s <level>: Print the state of the client context (circuits and channels)
  -p <prio>:  CA priority (0-99, default 0=lowest)

Example: epics-cainfo my_channel another_channel
"""

STATE_NAMES = ("never connected", "previously connected", "connected", "closed")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``epics-cainfo`` and ``python -m epics_compat.cainfo``."""
    return _common.run(_main, argv)


def _usage(settings: _common.Settings) -> str:
    return USAGE % {"timeout": settings.timeout} + _common.version_text()


def _main(argv: list[str]) -> int:
    options, names = _common.parse_options(TOOL, argv, "nhVvw:s:p:")
    settings = _common.Settings(TOOL, _usage)
    level = 0
    for option, value in options:
        if settings.take(option, value):
            continue
        if option == "-s":
            try:
                level = int(value)
            except ValueError:
                _common.warn("'%s' is not a valid interest level - ignored. "
                             "('%s -h' for help.)" % (value, _common.program_name(TOOL)))
    if not level and not names:
        raise _common.UsageError("No pv name specified. ('%s -h' for help.)"
                                 % _common.program_name(TOOL))
    session = settings.session()
    try:
        connected = session.connect(names, settings.timeout)
        if level:
            sys.stdout.write(client_status(session) + "\n")
        else:
            sys.stdout.write("".join(info(channel) for channel in connected))
        sys.stdout.flush()
        return 0 if len(connected) == len(names) else 1
    finally:
        session.close()


def info(channel) -> str:
    """The block cainfo prints for one channel."""
    access = channel.access_rights
    native = channel.native_type
    request = _format.dbr_name(native) if native >= 0 else "TYPENOTCONN"
    return (
        "%s\n"
        "    State:            %s\n"
        "    Host:             %s\n"
        "    Access:           %sread, %swrite\n"
        "    Native data type: %s\n"
        "    Request type:     %s\n"
        "    Element count:    %d\n"
        % (channel.name, STATE_NAMES[channel.state], channel.host,
           "" if access & core.AccessRights.READ else "no ",
           "" if access & core.AccessRights.WRITE else "no ",
           _format.DBF_NAMES.get(native, "TYPENOTCONN"), request, channel.native_count))


def client_status(session: _common.Session) -> str:
    """A summary of the client context: what ``cainfo -s`` prints here (EPICS base
    prints libca's own ca_client_status report, which has no equivalent), with the
    search destinations in use: where a PV not found was looked for."""
    context = session.context
    destinations = context.config.search_addresses()
    lines = [repr(context), "Search destination list with %d items" % len(destinations)]
    lines.extend("    %s:%d" % address for address in destinations)
    for circuit in list(context.circuits.values()):
        lines.append("    %r channels=%d" % (circuit, len(circuit.channels)))
        for channel in list(circuit.channels.values()):
            lines.append("        %s (%s)" % (channel.name, STATE_NAMES[channel.state]))
    return "\n".join(lines)
