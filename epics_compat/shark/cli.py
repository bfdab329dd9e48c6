"""The command line of epics-shark: options, then one line per message."""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import TextIO

import caproto_core as core

from .decode import Conversation, Line
from .pcap import CA_REPEATER_PORT, CA_SERVER_PORT, PcapError, packets


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="epics-shark",
        description="Print every Channel Access message of a pcap capture (a file, or "
                    "a stream on stdin such as 'tcpdump -w - port 5064 | epics-shark').")
    parser.add_argument("capture", nargs="?", default="-",
                        help="pcap file to read; '-' or nothing reads stdin")
    parser.add_argument("--pv", action="append", default=[], metavar="NAME",
                        help="only messages about this PV (repeat for more)")
    parser.add_argument("--command", action="append", default=[], metavar="NAME",
                        help="only this message class or command, e.g. ReadNotifyResponse, "
                             "READ_NOTIFY or CREATE_CHAN (repeat for more)")
    parser.add_argument("--server-port", type=int,
                        default=int(os.environ.get("EPICS_CA_SERVER_PORT", CA_SERVER_PORT)),
                        help="the CA server port (default: EPICS_CA_SERVER_PORT or 5064)")
    parser.add_argument("--repeater-port", type=int,
                        default=int(os.environ.get("EPICS_CA_REPEATER_PORT",
                                                   CA_REPEATER_PORT)),
                        help="the CA repeater port (default: EPICS_CA_REPEATER_PORT or 5065)")
    return parser.parse_args(argv)


def _command_names(wanted: list[str]) -> set[str]:
    """Upper-case names to match against a message's class name and its command."""
    known = {cls.__name__.upper() for cls in (*core.REQUESTS.values(),
                                               *core.RESPONSES.values())}
    known |= {command.name for command in core.Command}
    names = {name.upper() for name in wanted}
    unknown = names - known
    if unknown:
        raise SystemExit(f"epics-shark: unknown command {', '.join(sorted(unknown))} "
                         f"(names such as CREATE_CHAN or CreateChanRequest)")
    return names


def _wanted(line: Line, pvs: set[str], commands: set[str]) -> bool:
    if pvs and line.pv not in pvs:
        return False
    if commands:
        message = line.message
        if message is None:
            return False
        kinds = {type(message).__name__.upper(), core.Command(message.ID).name}
        if not kinds & commands:
            return False
    return True


def _stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) + \
        f".{int(seconds % 1 * 1e6):06d}"


def run(stream, out: TextIO, args: argparse.Namespace) -> int:
    conversation = Conversation(args.server_port, args.repeater_port)
    pvs, commands = set(args.pv), _command_names(args.command)
    for packet in packets(stream, "stdin" if args.capture == "-" else args.capture):
        for line in conversation.feed(packet):
            if _wanted(line, pvs, commands):
                out.write(f"{_stamp(line.time)} {line.text()}\n")
                out.flush()
    for line in conversation.finish():
        if _wanted(line, pvs, commands):
            out.write(f"{_stamp(line.time)} {line.text()}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    try:
        if args.capture == "-":
            return run(sys.stdin.buffer, sys.stdout, args)
        with open(args.capture, "rb") as stream:
            return run(stream, sys.stdout, args)
    except (BrokenPipeError, KeyboardInterrupt):  # | head, or Ctrl-C on a live capture
        return 0
    except (PcapError, OSError) as exc:
        print(f"epics-shark: {exc}", file=sys.stderr)
        return 1
