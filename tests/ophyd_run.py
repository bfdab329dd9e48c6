"""Run tests/ophyd_script.py with pyepics or epics_compat, for test_ophyd and test_bluesky.

ophyd keeps global state (its control layer, its dispatcher threads) and pyepics and
epics_compat cannot both be ``epics`` in one process, so every scenario runs in a fresh
process. The simulated motor and a plain PV come from epics_compat.server, running in the
test process; the script asks for server-side actions (a restart, a write) on stdout.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ioc import close_pipes

SCRIPT = Path(__file__).resolve().parent / "ophyd_script.py"
ROOT = SCRIPT.parents[1]
LIBS = ("pyepics", "epics_compat")


def sim_server(prefix: str):
    """The server the scenarios need: motors ``prefix m1`` and ``prefix m2`` (with limit
    switches at -1 and 1.5) and a double ``prefix sim``."""
    srv = pytest.importorskip("epics_compat.server")
    return srv.Server([srv.Motor(prefix + "m1", velocity=5.0, high_limit=10.0,
                                 low_limit=-10.0),
                       srv.Motor(prefix + "m2", velocity=10.0, high_limit=10.0,
                                 low_limit=-10.0, hard_limits=(-1.0, 1.5)),
                       srv.PV(prefix + "sim", "double", 1.5, units="V", precision=2)],
                      beacon_address=None)


def client_env(softioc, server) -> dict[str, str]:
    """os.environ plus a CA client environment that finds the softIoc and the server."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, **softioc.env,
            "EPICS_CA_ADDR_LIST": f"127.0.0.1:{softioc.port} 127.0.0.1:{server.port}",
            "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else "")}


def _serve_request(server, sim_prefix: str, line: str) -> str:
    command, *args = line[1:].split()
    if command == "restart":
        server.faults.restart(downtime=0.5)
    elif command == "write":
        server[sim_prefix + args[0]].write(float(args[1]))
    else:
        raise AssertionError(f"unknown request from the scenario: {line!r}")
    return "ok"


def run_sections(lib: str, sections, softioc, server, sim_prefix: str,
                 timeout: float = 90.0) -> dict:
    """The JSON dict ophyd_script.py prints for ``sections`` run with ``lib``."""
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), lib, softioc.prefix, sim_prefix, *sections],
        env=client_env(softioc, server), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=ROOT)
    lines = []
    watchdog = threading.Timer(timeout, proc.kill)  # a hung scenario fails, not hangs
    watchdog.start()
    try:
        for line in proc.stdout:
            if line.startswith("@"):
                proc.stdin.write(_serve_request(server, sim_prefix, line.strip()) + "\n")
                proc.stdin.flush()
            else:
                lines.append(line)
        stderr = proc.stderr.read()
        proc.wait(timeout)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        close_pipes(proc)
    assert proc.returncode == 0, f"{lib} scenario {sections} failed:\n{stderr}"
    return {"result": json.loads(lines[-1]), "stderr": stderr}
