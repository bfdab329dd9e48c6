"""``run``: serve groups of PVs from the command line, with the options IOCs have.

    run(MyGroup, default_prefix="mine:")

gives a program that takes ``--prefix``, ``--list-pvs``, ``--interfaces``, ``-v``/``-vv``
and reads EPICS base's server environment: EPICS_CAS_SERVER_PORT (default 5064),
EPICS_CAS_INTF_ADDR_LIST (default: every interface), EPICS_CAS_BEACON_ADDR_LIST,
EPICS_CAS_AUTO_BEACON_ADDR_LIST (default YES: the broadcast address of every network
served), EPICS_CAS_BEACON_PERIOD (default 15 s). It serves until interrupted.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from typing import Any, Callable, Mapping, Sequence

from caproto_core import DEFAULT_SERVER_PORT

from .discovery import beacon_destinations
from .server import DEFAULT_BEACON_PERIOD, Server

logger = logging.getLogger("epics_compat.server")


def _number(env: Mapping[str, str], name: str, default: float, kind: type = float) -> Any:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        return kind(text)
    except ValueError:
        raise SystemExit(f"{name}={text!r} is not a number") from None


def build_server(records: Sequence[Any], interfaces: Sequence[str] | None = None,
                 env: Mapping[str, str] | None = None) -> Server:
    """A Server for ``records`` configured from the EPICS_CAS_* environment (``env``,
    default ``os.environ``), as the runner starts it; not started yet."""
    env = os.environ if env is None else env
    listed = list(interfaces or env.get("EPICS_CAS_INTF_ADDR_LIST", "").split())
    if len(listed) > 1:
        raise SystemExit(f"--interfaces / EPICS_CAS_INTF_ADDR_LIST: {' '.join(listed)}: this "
                         f"server serves one interface, or 0.0.0.0 for all of them")
    host = listed[0] if listed else "0.0.0.0"
    port = _number(env, "EPICS_CAS_SERVER_PORT",
                   _number(env, "EPICS_CA_SERVER_PORT", DEFAULT_SERVER_PORT, int), int)
    period = _number(env, "EPICS_CAS_BEACON_PERIOD", DEFAULT_BEACON_PERIOD)
    return Server(records, host, port, beacon_address=beacon_destinations(host, env),
                  beacon_period=period)


def _arguments(default_prefix: str, description: str | None,
               argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--prefix", default=default_prefix,
                        help="put before every PV name (default: %(default)r)")
    parser.add_argument("--list-pvs", action="store_true",
                        help="print the names of the PVs served, at start")
    parser.add_argument("--interfaces", nargs="+", metavar="ADDRESS",
                        help="the interface to serve on (default: EPICS_CAS_INTF_ADDR_LIST, "
                             "else every interface)")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log: -v what happens, -vv every message (DEBUG)")
    return parser.parse_args(argv)


def run(make: Callable[[str], Any], default_prefix: str = "", *,
        description: str | None = None, argv: Sequence[str] | None = None,
        ready: threading.Event | None = None, stop: threading.Event | None = None) -> None:
    """Serve ``make(prefix)`` (a Group, a record such as Motor, or a list of them) until
    interrupted (Ctrl-C, SIGTERM) or until ``stop`` is set. ``ready`` is set once served.
    """
    args = _arguments(default_prefix, description, argv)
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG if args.verbose > 1 else logging.INFO,
                            format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    made = make(args.prefix)
    records = made if isinstance(made, (list, tuple)) else [made]
    server = build_server(records, args.interfaces)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with server:
        logger.info("serving %d PVs on %s:%d", len(server.pvs), server.host,
                    server.port)
        if args.list_pvs:
            print("PVs:", *sorted(server.pvs), sep="\n    ", flush=True)
        if ready is not None:
            ready.set()
        try:
            while not stop.wait(3600):
                pass
        except KeyboardInterrupt:
            pass
    sys.stdout.flush()
