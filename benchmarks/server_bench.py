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
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

import load_ioc  # noqa: E402
from ioc import SoftIoc, find_free_port  # noqa: E402

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


def measure(port: int, pid: int, prefix: str, subscribers: int, seconds: float) -> dict:
    names = [f"{prefix}c{index}" for index in range(COUNTERS)]
    clients = load_ioc.Subscribers(port, names, subscribers)
    try:
        clients.wait_for_first_values()
        seen = clients.count(seconds, pid)
    finally:
        clients.close()
    offered = subscribers * COUNTERS / PERIOD * seen["elapsed"]
    return {"per_s": seen["updates"] / seen["elapsed"], "share": seen["updates"] / offered,
            "lost": seen["lost"], "cpu": seen["cpu"]}


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
        process, port = load_ioc.start("sb:", COUNTERS, COUNTERS, PERIOD)
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
