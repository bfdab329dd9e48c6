"""Command line: ``python -m epics_compat.server --motor m1 --pv x double 1.5``.

Serves the PVs and motors given, on 127.0.0.1 (or EPICS_CAS_INTF_ADDR_LIST) unless told
otherwise, and prints one line ``serving on HOST:PORT ...`` once clients can connect.
With ``--commands`` it reads commands from stdin, one per line, answers each with
``ok [result]`` or ``error: ...``, and exits at end of input (so a test that dies takes
the server with it):

    put NAME VALUE            write a PV (as a record processing would)
    get NAME                  print a PV's value
    <fault> [ARG ...]         call server.faults.<fault>(ARG, ...), e.g. ``hang True``,
                              ``delay 0.5``, ``drop_circuits``, ``restart 0.2``,
                              ``refuse_channel x``, ``send_malformed truncated``
    quit                      stop the server and exit
"""
from __future__ import annotations

import argparse
import ast
import json
import logging
import signal
import sys
import threading
from typing import Any, Sequence

from caproto_core import DEFAULT_REPEATER_PORT

from .discovery import beacon_destinations, interface_from_environment
from .motor import Motor
from .pv import PV, TYPE_NAMES
from ..repeater import Repeater
from .server import DEFAULT_BEACON_PERIOD, Server


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m epics_compat.server",
        description="A pure-Python Channel Access server for tests: PVs declared on the "
                    "command line, simulated motor records and scripted faults.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="PV types: " + ", ".join(sorted(TYPE_NAMES)) + ". A type may give a count, "
               "as in long[10]; array values are comma-separated.\n"
               "--json takes a file or inline JSON: a list of objects, each either PV "
               "keywords\n  {\"name\": \"e\", \"type\": \"enum\", \"value\": 1, "
               "\"enum_strs\": [\"Off\", \"On\"], \"units\": ...}\nor motor keywords "
               "{\"motor\": \"m2\", \"velocity\": 2.0, \"high_limit\": 10, ...}.\n\n"
               "Commands on stdin (with --commands):\n" + __doc__.split("\n\n", 2)[2])
    parser.add_argument("--host", default=None,
                        help="interface to serve on, 0.0.0.0 for all (default: "
                             "EPICS_CAS_INTF_ADDR_LIST if set, else 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0,
                        help="TCP and UDP port (default: 0, a free one)")
    parser.add_argument("--prefix", default="", help="prefix of every PV and motor name")
    parser.add_argument("--pv", nargs="+", action="append", default=[],
                        metavar="ARG",
                        help="serve a PV: NAME TYPE [VALUE] (repeatable)")
    parser.add_argument("--motor", action="append", default=[], metavar="NAME",
                        help="serve a simulated motor record NAME (repeatable)")
    parser.add_argument("--velocity", type=float, default=1.0,
                        help="VELO of the --motor records (default: 1.0 per second)")
    parser.add_argument("--json", action="append", default=[], metavar="FILE_OR_JSON",
                        help="PVs and motors declared in JSON (see below)")
    parser.add_argument("--beacon-address", default=f"127.0.0.1:{DEFAULT_REPEATER_PORT}",
                        metavar="HOST:PORT",
                        help="where beacons go (default: %(default)s); 'auto': as rsrv, "
                             "to the broadcast address of every interface served "
                             "(EPICS_CAS_AUTO_BEACON_ADDR_LIST, EPICS_CAS_BEACON_ADDR_LIST,"
                             " EPICS_CAS_BEACON_PORT)")
    parser.add_argument("--no-beacons", action="store_true", help="send no beacons")
    parser.add_argument("--repeater", action="store_true",
                        help="also run a CA repeater on the beacon port (where no "
                             "caRepeater runs, libca clients hear beacons only so)")
    parser.add_argument("--beacon-period", type=float, default=DEFAULT_BEACON_PERIOD,
                        help="seconds between beacons (default: %(default)s)")
    parser.add_argument("--commands", action="store_true",
                        help="read commands from stdin; exit at its end")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log to stderr (-v: connections, -vv: every message)")
    args = parser.parse_args(argv)
    if args.repeater and args.beacon_address == "auto":
        parser.error("--repeater needs one --beacon-address HOST:PORT, not 'auto'")
    for declaration in args.pv:
        if len(declaration) not in (2, 3):
            parser.error(f"--pv takes NAME TYPE [VALUE], not {' '.join(declaration)!r}")
    return args


def pv_from_words(name: str, type_text: str, value: str | None) -> PV:
    """A PV from ``--pv NAME TYPE [VALUE]``; TYPE may end in ``[COUNT]``."""
    count = None
    if type_text.endswith("]") and "[" in type_text:
        type_text, _, count_text = type_text[:-1].partition("[")
        count = int(count_text)
    if value is None:
        return PV(name, type_text, count=count)
    if count is not None and count > 1 and type_text.lower() not in ("char", "byte"):
        items: Any = [item.strip() for item in value.split(",")] if value else []
    else:
        items = value
    if type_text.lower() not in ("string", "str", "enum", "char", "byte"):
        items = [_number(item) for item in items] if isinstance(items, list) \
            else _number(items)
    return PV(name, type_text, items, count=count)


def _number(text: str) -> float | int:
    try:
        return int(text, 0)
    except ValueError:
        return float(text)


def records_from_json(text: str, prefix: str) -> list[Any]:
    """PVs and motors from a JSON list (or one object), given inline or as a file name."""
    if not text.lstrip().startswith(("[", "{")):
        with open(text) as file:
            text = file.read()
    declarations = json.loads(text)
    if isinstance(declarations, dict):
        declarations = [declarations]
    records: list[Any] = []
    for declaration in declarations:
        declaration = dict(declaration)
        if "motor" in declaration:
            records.append(Motor(prefix + declaration.pop("motor"), **declaration))
        else:
            name = prefix + declaration.pop("name")
            records.append(PV(name, declaration.pop("type", "double"),
                              declaration.pop("value", None), **declaration))
    return records


def build_server(args: argparse.Namespace) -> Server:
    records: list[Any] = []
    for words in args.pv:
        records.append(pv_from_words(args.prefix + words[0], words[1],
                                     words[2] if len(words) > 2 else None))
    for name in args.motor:
        records.append(Motor(args.prefix + name, velocity=args.velocity))
    for text in args.json:
        records.extend(records_from_json(text, args.prefix))
    host = args.host or interface_from_environment()
    beacon_address: Any = None
    if args.no_beacons:
        pass
    elif args.beacon_address == "auto":
        beacon_address = beacon_destinations(host)
    else:
        beacon_host, _, port = args.beacon_address.rpartition(":")
        beacon_address = (beacon_host or "127.0.0.1", int(port))
    return Server(records, host, args.port, beacon_address=beacon_address,
                  beacon_period=args.beacon_period)


def run_command(server: Server, line: str) -> str:
    """Do one stdin command; returns the answer line."""
    words = line.split()
    if not words:
        return "ok"
    command, arguments = words[0], [_literal(word) for word in words[1:]]
    try:
        if command == "put":
            server[words[1]].write(_literal(" ".join(words[2:])))
            return "ok"
        if command == "get":
            return f"ok {server[words[1]].value!r}"
        fault = getattr(server.faults, command, None)
        if command.startswith("_") or not callable(fault):
            return f"error: unknown command {command!r}"
        result = fault(*arguments)
        return "ok" if result is None else f"ok {result!r}"
    except Exception as exc:  # reported to the controlling process, not fatal
        return f"error: {type(exc).__name__}: {exc}"


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG if args.verbose > 1 else logging.INFO,
                            format="%(asctime)s %(name)s %(levelname)s: %(message)s")
        if args.verbose > 1:
            logging.getLogger("caproto_core").setLevel(logging.DEBUG)
    repeater = None
    try:
        server = build_server(args)
        if args.repeater and server.beacon_address is not None:
            repeater = Repeater(server.beacon_address[1], server.beacon_address[0]).start()
            server.beacon_address = (repeater.host, repeater.port)  # if it was port 0
        server.start()
    except (ValueError, TypeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if repeater is not None:
            repeater.stop()
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"serving on {server.host}:{server.port} ({len(server.pvs)} PV names)",
          flush=True)
    try:
        if args.commands:
            for line in sys.stdin:
                if line.strip() == "quit":
                    break
                print(run_command(server, line), flush=True)
        else:
            while not stop.wait(0.5):
                pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if repeater is not None:
            repeater.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
