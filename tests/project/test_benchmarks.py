"""The benchmark harness keeps working: ``benchmarks/run.py --quick`` on a few scenarios.

It starts a softIoc of its own (on a port of its own) and runs each scenario in fresh
processes for pyepics, caproto and epics_compat; this checks the plumbing, not speed.
"""
from __future__ import annotations

import json
import subprocess
import sys

from paths import ROOT as REPO


def quick_run(tmp_path):
    """One ``run.py --quick``: (its output, its results by (library, scenario))."""
    results = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick",
         "--scenarios", "get,monitor,aio_put_wait,aio_monitor,scaling",
         "--plot", str(tmp_path / "bench.png"), "--json", str(results),
         "--log-dir", str(tmp_path / "logs")],
        capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(results.read_text())
    return proc, {(r["lib"], r["scenario"]): r for r in data["results"]}


def test_quick_benchmark_runs(tmp_path):
    proc, runs = quick_run(tmp_path)
    if any(run["lib"] == "pyepics" and run["status"] == "error" for run in runs.values()):
        # The reference itself failed (seen once in CI: pyepics' monitor run never saw
        # the last of libca's writes): run once more; every assertion below still holds.
        proc, runs = quick_run(tmp_path)
    for lib in ("pyepics", "epics_compat"):
        for scenario in ("get", "monitor", "aio_put_wait", "aio_monitor"):
            run = runs[(lib, scenario)]
            assert run["status"] == "ok", (lib, scenario, run, proc.stdout)
    ours = runs[("epics_compat", "monitor")]["metrics"]
    assert ours["monitor_eps"] > 0 and ours["latency_ms"] > 0
    assert ours["monitor_paced_lost"] >= 0 and ours["paced_writer_eps"] > 0
    ours_aio = runs[("epics_compat", "aio_monitor")]["metrics"]
    assert ours_aio["aio_monitor_eps"] > 0 and ours_aio["aio_monitor_lost"] >= 0
    assert runs[("caproto", "aio_put_wait")]["status"] == "unavailable"
    assert runs[("epics_compat", "scale_1000")]["metrics"]["scale_us_per_pv"] > 0
    assert "scaling: connect + first read of N PV objects" in proc.stdout
    assert (tmp_path / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The table names every library and marks each target met or missed.
    assert "PV.get(use_monitor=False), scalar" in proc.stdout
    assert "caproto pyepics_compat" in proc.stdout
    assert ("met" in proc.stdout) or ("MISSED" in proc.stdout)
