#!/usr/bin/env python
"""How many monitor updates one IOC posts to N subscribers: epics_compat's server
(epics_compat.server, pure Python) beside EPICS base's softIoc (rsrv, C).

    python benchmarks/server_bench.py [--seconds 3] [--subscribers 1,10,50]

Each IOC serves 500 counters, every one of them incremented 10 times a second (5,000
changes/s: the softIoc with calc records scanned at .1 second, ours with a group's
periodic hook). N raw client circuits (caproto_core, in this process) each subscribe to
all 500; the table gives the updates delivered per second in all, the share of the
changes each subscriber saw, values lost, and the IOC's CPU (% of one core).
"""
from __future__ import annotations

import argparse
import os
import selectors
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

from ioc import SoftIoc, find_free_port  # noqa: E402
from load_ioc import Subscriber, cpu_seconds  # noqa: E402

COUNTERS, PERIOD = 500, 0.1


def softioc_counters(prefix: str, directory: Path) -> SoftIoc:
    database = directory / "counters.db"
    database.write_text("".join(
        f'record(calc, "$(P)c{index}") {{ field(SCAN, ".1 second") '
        f'field(INPA, "$(P)c{index} NPP") field(CALC, "A+1") }}\n'
        for index in range(COUNTERS)))
    ioc = SoftIoc(port=find_free_port(), prefix=prefix, db=database,
                  log_path=directory / "softioc.log")
    ioc.start()
    return ioc


def python_counters(prefix: str) -> tuple[subprocess.Popen, int]:
    port = find_free_port()
    env = {**os.environ, "EPICS_CAS_SERVER_PORT": str(port),
           "EPICS_CAS_INTF_ADDR_LIST": "127.0.0.1", "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
           "EPICS_CAS_BEACON_ADDR_LIST": f"127.0.0.1:{port + 1}"}
    process = subprocess.Popen([sys.executable, str(TESTS / "load_ioc.py"), prefix,
                                str(COUNTERS), str(COUNTERS), str(PERIOD)], env=env)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, port
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Python IOC did not come up")
            time.sleep(0.05)


def measure(port: int, pid: int, prefix: str, subscribers: int, seconds: float) -> dict:
    names = [f"{prefix}c{index}" for index in range(COUNTERS)]
    clients = [Subscriber(port, names) for _ in range(subscribers)]
    selector = selectors.DefaultSelector()
    for client in clients:
        selector.register(client.sock, selectors.EVENT_READ, client)
    deadline = time.monotonic() + 60
    while not all(len(client.last) == COUNTERS for client in clients):
        if time.monotonic() > deadline:
            raise RuntimeError("subscriptions did not all start")
        for key, _ in selector.select(1.0):
            key.data.on_readable()
    for client in clients:
        client.reset()
    cpu, started = cpu_seconds(pid), time.monotonic()
    while time.monotonic() - started < seconds:
        for key, _ in selector.select(0.1):
            key.data.on_readable()
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(pid) - cpu
    for client in clients:
        client.sock.close()
    updates = sum(client.updates for client in clients)
    offered = subscribers * COUNTERS / PERIOD * elapsed
    return {"per_s": updates / elapsed, "share": updates / offered,
            "lost": sum(client.lost for client in clients), "cpu": 100 * cpu / elapsed}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--subscribers", default="1,10,50")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.subscribers.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        ioc = softioc_counters("sb:", Path(directory))
        try:
            for n in counts:
                rows.append(("softIoc (rsrv)", n, measure(ioc.port, ioc.process.pid, "sb:",
                                                         n, args.seconds)))
        finally:
            ioc.stop()
        process, port = python_counters("sb:")
        try:
            for n in counts:
                rows.append(("epics_compat.server", n, measure(port, process.pid, "sb:", n,
                                                              args.seconds)))
        finally:
            process.terminate()
            process.wait(10)
    print(f"{COUNTERS} counters changing {1 / PERIOD:g} times a second each, "
          f"{args.seconds:g} s per row")
    print(f"{'IOC':<22}{'subscribers':>12}{'updates/s':>12}{'seen':>8}{'lost':>8}"
          f"{'IOC CPU':>9}")
    for name, n, row in rows:
        print(f"{name:<22}{n:>12}{row['per_s']:>12.0f}{row['share']:>8.0%}"
              f"{row['lost']:>8}{row['cpu']:>8.0f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
