#!/usr/bin/env python
"""Benchmarks of epics_compat side by side with pyepics (libca) and caproto, in one run.

    python benchmarks/run.py            # everything, 5 rounds (a few minutes)
    python benchmarks/run.py --quick    # 1 round, smaller sizes (about a minute; for CI)

It starts an EPICS 7 softIoc (epicscorelibs) on 127.0.0.1 on a free port, with
``tests/db/test.db`` plus the benchmark records (2,000 ``ao`` records, a counter and a
time stamp for monitors), and a CA repeater beside it. Then, round after round, it runs
every scenario for every library, each in a fresh Python process with the client
environment of that IOC, interleaved (pyepics, caproto, epics_compat, then the next
scenario; the order of the libraries rotates from round to round), and prints the
median of the rounds, their spread and the ratio to pyepics measured in the same run.

The libraries:

- ``pyepics``: ``import epics`` (pyepics, which drives EPICS base's libca through ctypes);
- ``caproto``: ``import caproto.threading.pyepics_compat`` (pure Python, threaded);
- ``epics_compat``: ``import epics_compat`` (this repository, pure Python).

The ``aioca:`` rows (scenarios ``aio_*``) use aioca's asyncio API instead: there the
libca column is real aioca and epics_compat's is ``epics_compat.aioca``; caproto has no
aioca API.

A library that lacks the API a scenario uses shows "n/a" for it; a scenario that fails
shows "error", and the log of the failed process is listed under the table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
WORKER = BENCH_DIR / "_worker.py"
#: The asyncio scenarios (aio_*): aioca's API, where the libca column is real aioca.
AIOCA_WORKER = BENCH_DIR / "_aioca_worker.py"
CORE_DECODE = BENCH_DIR / "bench_core_decode.py"
sys.path.insert(0, str(REPO / "tests"))

from ioc import TEST_DB, SoftIoc, client_env, find_free_port  # noqa: E402

LIBS = ["pyepics", "caproto", "epics_compat"]
LIB_LABELS = {"pyepics": "pyepics (libca)", "caproto": "caproto pyepics_compat",
              "epics_compat": "epics_compat"}
RESULT_MARKER = "BENCH-RESULT "

#: Scenarios in the order they run within a round.
SCENARIOS = ["import", "caget_many", "pv_connect", "get", "ca_get", "put_wait",
             "cached_get", "wave_get", "wave_first", "wave_put", "wave_100k", "monitor",
             "many_monitors", "aio_caget_many", "aio_caget",
             "aio_put_wait", "aio_wave_first", "aio_monitor"]

#: Processes per library and round, for scenarios short and noisy enough to need more.
REPEATS = {"import": 3}

#: Sizes of the full run and of --quick.
FULL = dict(rounds=7, npvs=2000, n_get=2000, n_put=1000, warmup=100, nwave=5, nfirst=20,
            n100k=50, monitor_seconds=5.0, scale_ns=[100, 1000, 10000, 50000],
            nevents=20000, npaced=10000, nstamps=300, timeout=240.0)
QUICK = dict(rounds=1, npvs=500, n_get=300, n_put=200, warmup=30, nwave=2, nfirst=5,
             n100k=10, monitor_seconds=2.0, scale_ns=[100, 1000],
             nevents=3000, npaced=2000, nstamps=100, timeout=60.0)

#: Puts per second of the monitor scenario's paced run (the same for every library).
PACED_RATE = 20_000


class Metric:
    """A row of the table: one number a scenario reports, and its target if any."""

    def __init__(self, key, scenario, label, unit, better, target=None, note=None,
                 total=False):
        self.key = key
        self.total = total  # summed over the rounds (a count), not a median
        self.scenario = scenario
        self.label = label
        self.unit = unit
        self.better = better  # "lower" or "higher"
        self.target = target  # (">=" or "<=", factor against pyepics), or None
        self.note = note

    def target_text(self) -> str:
        if self.target is None:
            return ""
        op, factor = self.target
        text = ("<= %gx" if op == "<=" else ">= %gx") % factor
        if self.key == "monitor_eps":
            text += ", 0 lost"
        return text


def metrics_table(npvs: int) -> list[Metric]:
    return [
        Metric("caget_many_s", "caget_many", f"caget_many({npvs} PVs): connect + read",
               "s", "lower", ("<=", 0.5)),
        Metric("pv_connect_s", "pv_connect", f"{npvs} PV objects: create + get()", "s",
               "lower", ("<=", 0.5)),
        Metric("get_us", "get", "PV.get(use_monitor=False), scalar", "us", "lower",
               ("<=", 0.5)),
        Metric("ca_get_us", "ca_get", "ca.get(chid), scalar", "us", "lower", ("<=", 0.5)),
        Metric("put_wait_us", "put_wait", "PV.put(wait=True), scalar", "us", "lower",
               ("<=", 0.5)),
        Metric("put_wait_cpu_us", "put_wait", "  CPU per put", "us", "lower"),
        Metric("put_wait_monitored_us", "put_wait",
               "PV.put(wait=True), scalar, monitor on (PV(name))", "us", "lower",
               ("<=", 0.8)),
        Metric("put_wait_monitored_cpu_us", "put_wait", "  CPU per put", "us", "lower"),
        Metric("wave_get_mbs", "wave_get", "get of 1,000,000 doubles", "MB/s", "higher",
               (">=", 4.0)),
        Metric("cached_get_us", "cached_get", "PV.get() of a monitored PV (cached value)",
               "us", "lower"),
        Metric("wave_first_mbs", "wave_first",
               "1,000,000 doubles: first gets of a fresh process", "MB/s", "higher",
               (">=", 3.5)),
        Metric("wave100k_get_ms", "wave_100k", "get of 100,000 doubles", "ms", "lower"),
        Metric("wave100k_put_ms", "wave_100k", "put(wait=True) of 100,000 doubles", "ms",
               "lower"),
        Metric("many_monitors_eps", "many_monitors",
               f"{npvs} monitored PVs at 10 Hz each: updates", "ev/s", "higher"),
        Metric("many_monitors_cpu_pct", "many_monitors", "  client CPU", "%", "lower"),
        Metric("many_monitors_cpu_us", "many_monitors", "  CPU per update", "us",
               "lower"),
        Metric("wave_put_mbs", "wave_put", "put(wait=True) of 1,000,000 doubles", "MB/s",
               "higher"),
        Metric("monitor_eps", "monitor", "monitor events delivered", "ev/s", "higher",
               (">=", 2.0)),
        Metric("monitor_lost", "monitor", "monitor events lost (all rounds)", "events",
               "lower", total=True),
        Metric("writer_eps", "monitor", "  offered by the libca writer (burst)", "ev/s",
               "higher"),
        Metric("monitor_paced_lost", "monitor",
               f"  lost with the writer held to {PACED_RATE:,}/s (all rounds)", "events",
               "lower", total=True),
        Metric("paced_writer_eps", "monitor", "  offered by the paced writer", "ev/s",
               "higher"),
        Metric("cpu_per_10k_s", "monitor", "CPU time per 10,000 monitor updates", "s",
               "lower"),
        Metric("latency_ms", "monitor", "monitor latency, median", "ms", "lower"),
        Metric("latency_p99_ms", "monitor", "monitor latency, 99th percentile", "ms",
               "lower"),
        Metric("import_ms", "import", "import time", "ms", "lower", ("<=", 1.0)),
        Metric("rss_mb", "pv_connect", f"resident memory, {npvs} PVs connected", "MB",
               "lower", ("<=", 1.0)),
        Metric("rss_per_pv_kb", "pv_connect", "memory per connected PV", "kB", "lower"),
        # aioca's API: the libca column is aioca, epics_compat's is epics_compat.aioca.
        Metric("aio_caget_many_s", "aio_caget_many",
               f"aioca: caget of {npvs} PVs in one call: connect + read", "s", "lower"),
        Metric("aio_caget_us", "aio_caget", "aioca: caget, scalar", "us", "lower"),
        Metric("aio_put_wait_us", "aio_put_wait", "aioca: caput(wait=True), scalar", "us",
               "lower"),
        Metric("aio_put_wait_cpu_us", "aio_put_wait", "  CPU per put", "us", "lower"),
        Metric("aio_wave_first_mbs", "aio_wave_first",
               "aioca: 1,000,000 doubles, first cagets of a process", "MB/s", "higher"),
        Metric("aio_monitor_eps", "aio_monitor", "aioca: camonitor(all_updates) events",
               "ev/s", "higher"),
        Metric("aio_monitor_lost", "aio_monitor", "  events lost (all rounds)", "events",
               "lower", total=True),
        Metric("aio_cpu_per_10k_s", "aio_monitor", "  CPU time per 10,000 updates", "s",
               "lower"),
        Metric("aio_latency_ms", "aio_monitor", "  latency, median", "ms", "lower"),
    ]


# --- the IOC ------------------------------------------------------------------------------

BENCH_RECORDS = """
# ---- benchmark records (generated by benchmarks/run.py) ----
# Every put posts a monitor event (MDEL -1), also of an unchanged value.
record(ao, "$(P)counter") { field(MDEL, "-1") field(PREC, "0") }
record(ao, "$(P)stamp")   { field(MDEL, "-1") field(PREC, "6") }
# Put to with a monitor on (MDEL -1: an update for every put, also of an unchanged value).
record(ao, "$(P)putmon")  { field(MDEL, "-1") field(PREC, "3") }
record(waveform, "$(P)w100k") { field(FTVL, "DOUBLE") field(NELM, "100000") }
"""


def write_database(path: Path, npvs: int, nscale: int = 0) -> None:
    """tests/db/test.db plus the benchmark records, into ``path``."""
    lines = [TEST_DB.read_text(), BENCH_RECORDS]
    # The scaling records: read once each, by up to nscale PV objects.
    lines.extend(f'record(ao, "$(P)s:{i:05d}") {{ field(VAL, "{i}") }}'
                 for i in range(nscale))
    for i in range(npvs):
        lines.append(f'record(ao, "$(P)b:{i:04d}") {{ field(VAL, "{i}") }}')
    # Counters scanned 10 times a second, disabled unless m:enable is 1 (many_monitors).
    lines.append('record(bo, "$(P)m:enable") { field(VAL, "0") }')
    for i in range(npvs):
        lines.append(f'record(calc, "$(P)m:{i:04d}") {{ field(SCAN, ".1 second") '
                     f'field(CALC, "A+1") field(INPA, "$(P)m:{i:04d} NPP") '
                     f'field(SDIS, "$(P)m:enable NPP") field(DISV, "0") }}')
    path.write_text("\n".join(lines) + "\n")


def start_repeater(port: int, log: Path):
    """A CA repeater (caproto's) on ``port``, so that no client starts one of its own."""
    env = {**os.environ, "EPICS_CA_REPEATER_PORT": str(port)}
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "caproto.commandline.repeater", "-q"],
                                stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, env=env)


# --- running workers ------------------------------------------------------------------------

def run_worker(lib: str, scenario: str, args: dict, env: dict, timeout: float,
               log: Path) -> dict:
    """Run one scenario in a fresh process; its result dict (status, metrics, detail)."""
    worker = AIOCA_WORKER if scenario.startswith("aio_") else WORKER
    command = [sys.executable, str(worker), lib, scenario, json.dumps(args)]
    started = time.monotonic()
    try:
        proc = subprocess.run(command, env=env, capture_output=True, text=True,
                              timeout=timeout, cwd=str(REPO))
        stdout, stderr = proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) \
            else exc.stdout or ""
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) \
            else exc.stderr or ""
        result = {"status": "error", "detail": f"timed out after {timeout:.0f} s"}
    else:
        result = None
        for line in reversed(stdout.splitlines()):
            if line.startswith(RESULT_MARKER):
                result = json.loads(line[len(RESULT_MARKER):])
                break
        if result is None:
            result = {"status": "error",
                      "detail": f"exited with status {proc.returncode} without a result"}
    result["seconds"] = time.monotonic() - started
    with open(log, "a") as out:
        out.write(f"===== {lib} {scenario} {json.dumps(args)}: {result}\n"
                  f"--- stdout\n{stdout}\n--- stderr\n{stderr}\n")
    result["log"] = str(log)
    return result


def run_core_decode(quick: bool, timeout: float) -> str:
    """The output of benchmarks/bench_core_decode.py (owned by another benchmark)."""
    if not CORE_DECODE.exists():
        return "not available: benchmarks/bench_core_decode.py is not in this checkout"
    command = [sys.executable, str(CORE_DECODE)]
    if quick and "--quick" in CORE_DECODE.read_text():
        command.append("--quick")
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              cwd=str(REPO))
    except subprocess.TimeoutExpired:
        return f"error: {CORE_DECODE.name} timed out after {timeout:.0f} s"
    if proc.returncode:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
        return f"error: {CORE_DECODE.name} exited with status {proc.returncode}\n{tail}"
    return proc.stdout.rstrip()


# --- the report -------------------------------------------------------------------------

def fmt(value: float) -> str:
    """Three significant figures, without exponents for the usual ranges."""
    if value != value:
        return "nan"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    if magnitude >= 0.01:
        return f"{value:.3f}"
    return f"{value:.2g}"


def summarize(results: dict, metrics: list[Metric], libs: list[str]) -> dict:
    """Per metric and library: the values of the rounds, their median, or why none."""
    summary = {}
    for metric in metrics:
        row = {}
        for lib in libs:
            runs = results.get((lib, metric.scenario), [])
            values = [r["metrics"][metric.key] for r in runs
                      if r["status"] == "ok" and metric.key in r.get("metrics", {})]
            cell = {"values": values}
            if values:
                cell["median"] = (sum(values) if metric.total
                                  else statistics.median(values))
            elif any(r["status"] == "error" for r in runs):
                cell["missing"] = "error"
            elif runs:
                cell["missing"] = "n/a"
            else:
                cell["missing"] = "not run"
            if any(r["status"] == "error" for r in runs) and values:
                cell["errors"] = sum(r["status"] == "error" for r in runs)
            row[lib] = cell
        summary[metric.key] = row
    return summary


def verdict(metric: Metric, summary: dict) -> str:
    """'met', 'MISSED', 'n/a' (nothing to compare) or '' (no target) for epics_compat."""
    if metric.target is None:
        return ""
    row = summary[metric.key]
    ours, base = row.get("epics_compat", {}), row.get("pyepics", {})
    if "median" not in ours or "median" not in base or not base["median"]:
        return "n/a"
    op, factor = metric.target
    ratio = ours["median"] / base["median"]
    met = ratio <= factor if op == "<=" else ratio >= factor
    if metric.key == "monitor_eps":  # ... and not one event lost, in any round
        lost = summary.get("monitor_lost", {}).get("epics_compat", {})
        if lost.get("median", 1) != 0 or lost.get("errors"):
            met = False
    return "met" if met else "MISSED"


def render_table(summary: dict, metrics: list[Metric], libs: list[str]) -> str:
    header = ["scenario", "unit"] + [LIB_LABELS[lib] for lib in libs] + ["target", ""]
    rows = []
    for metric in metrics:
        row = summary[metric.key]
        base = row.get("pyepics", {}).get("median")
        cells = [metric.label, metric.unit]
        for lib in libs:
            cell = row[lib]
            if "median" not in cell:
                cells.append(cell["missing"])
                continue
            text = fmt(cell["median"])
            values = cell["values"]
            if not metric.total and len(values) > 1:
                text += f" [{fmt(min(values))}-{fmt(max(values))}]"
            if lib != "pyepics" and base and not metric.total:
                text += f" x{cell['median'] / base:.2f}"
            if cell.get("errors"):
                text += f" ({cell['errors']} failed)"
            cells.append(text)
        cells.append(metric.target_text())
        cells.append(verdict(metric, summary))
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    out = [line, "  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(), line]
    for cells in rows:
        out.append("  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip())
    out.append(line)
    return "\n".join(out)


def floor_line(runs: list, summary: dict) -> str:
    """The raw-socket floor (benchmarks/_worker.py role_floor) against pyepics."""
    values = {}
    for run in runs:
        for key, value in run.get("metrics", {}).items():
            values.setdefault(key, []).append(value)
    if not values:
        return ""
    parts = []
    for key, metric_key, label, unit in (
            ("floor_get_us", "get_us", "get", "us"),
            ("floor_put_wait_us", "put_wait_us", "put(wait=True)", "us"),
            ("floor_put_wait_monitored_us", "put_wait_monitored_us",
             "put(wait=True) with a monitor", "us"),
            ("floor_wave_get_mbs", "wave_get_mbs", "1M-double get", "MB/s"),
            ("floor_wave_get_mbs", "wave_first_mbs", "against the first gets", "MB/s")):
        if key not in values:
            continue
        median = statistics.median(values[key])
        text = f"{label} {fmt(median)} {unit}"
        ratios = []
        base = summary.get(metric_key, {}).get("pyepics", {}).get("median")
        if base:
            ratios.append(f"x{median / base:.2f}")
        ours = summary.get(metric_key, {}).get("epics_compat", {}).get("median")
        if ours:
            ratios.append(f"epics_compat x{ours / median:.2f} of it")
        if ratios:
            text += f" ({', '.join(ratios)})"
        parts.append(text)
    return ("floor, a raw socket in one thread without decoding (no client can do "
            "better here; xN against pyepics):\n  " + ";\n  ".join(parts))


def scaling_cell(results: dict, lib: str, n: int) -> dict | None:
    runs = [r for r in results.get((lib, f"scale_{n}"), []) if r["status"] == "ok"]
    return runs[0]["metrics"] if runs else None


def render_scaling(results: dict, ns: list[int], libs: list[str]) -> str:
    """Connect + first read of N PV objects: time and memory per PV, for each N."""
    lines = ["scaling: connect + first read of N PV objects (monitor on); per PV, "
             "time (us) / memory (kB)"]
    lines.append("  " + "N".rjust(7) + "".join(LIB_LABELS[lib].rjust(26) for lib in libs))
    for n in ns:
        cells = []
        for lib in libs:
            cell = scaling_cell(results, lib, n)
            cells.append(f"{fmt(cell['scale_us_per_pv'])} / {fmt(cell['scale_kb_per_pv'])}"
                         if cell else "error")
        lines.append("  " + str(n).rjust(7) + "".join(c.rjust(26) for c in cells))
    return "\n".join(lines)


def plot(path: Path, results: dict, summary: dict, metrics: list[Metric], ns: list[int],
         libs: list[str]) -> None:
    """Scaling curves (time and memory per PV against N) and every metric's ratio to
    pyepics, as one PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, (time_axis, memory_axis, ratio_axis) = plt.subplots(
        1, 3, figsize=(18, 6.5), gridspec_kw={"width_ratios": [1, 1, 1.6]})
    for lib in libs:
        points = [(n, scaling_cell(results, lib, n)) for n in ns]
        points = [(n, cell) for n, cell in points if cell]
        if points:
            time_axis.plot([n for n, _ in points],
                           [cell["scale_us_per_pv"] for _, cell in points], "o-",
                           label=LIB_LABELS[lib])
            memory_axis.plot([n for n, _ in points],
                             [cell["scale_kb_per_pv"] for _, cell in points], "o-",
                             label=LIB_LABELS[lib])
    for axis, title, unit in ((time_axis, "connect + first read, per PV", "us per PV"),
                              (memory_axis, "memory per PV", "kB per PV")):
        axis.set_xscale("log")
        axis.set_xlabel("PV objects (N)")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.grid(True, alpha=0.3)
        axis.legend()
    rows = []
    for metric in metrics:
        row = summary[metric.key]
        ours, base = row.get("epics_compat", {}), row.get("pyepics", {})
        if metric.total or "median" not in ours or not base.get("median"):
            continue
        ratio = ours["median"] / base["median"]
        better = ratio < 1 if metric.better == "lower" else ratio > 1
        rows.append((metric.label.strip(), ratio, better))
    if rows:
        labels, ratios, better = zip(*rows)
        positions = range(len(rows))
        ratio_axis.barh(list(positions), ratios,
                        color=["tab:green" if b else "tab:red" for b in better])
        ratio_axis.set_yticks(list(positions), labels, fontsize=7)
        ratio_axis.invert_yaxis()
        ratio_axis.set_xscale("log")
        ratio_axis.axvline(1.0, color="black", linewidth=0.8)
        ratio_axis.set_title("epics_compat / pyepics (green: better for the user)")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def machine_description() -> list[str]:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.0f} GB RAM"
    except OSError:
        pass
    versions = []
    for label, module in (("pyepics", "epics"), ("caproto", "caproto"),
                          ("numpy", "numpy"), ("epicscorelibs", "epicscorelibs.version")):
        try:
            proc = subprocess.run(
                [sys.executable, "-c", f"import {module} as m; print(m.__version__ "
                                       f"if hasattr(m, '__version__') else m.version)"],
                capture_output=True, text=True, timeout=30)
            versions.append(f"{label} {proc.stdout.strip() or '?'}")
        except (OSError, subprocess.TimeoutExpired):
            versions.append(f"{label} ?")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                capture_output=True, text=True).stdout.strip()
        if not commit:
            raise OSError("not a git checkout")
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no",
                                "epics_compat", "caproto_core"], cwd=REPO,
                               capture_output=True, text=True).stdout.strip()
        commit = f"epics_compat at {commit}" + (" (with uncommitted changes)" if dirty
                                                else "")
    except OSError:
        commit = f"epics_compat from {REPO} (not a git checkout)"
    return [
        f"{cpu}, {os.cpu_count()} cores{memory}; {platform.system()} "
        f"{platform.release()}",
        f"Python {platform.python_version()}; " + ", ".join(versions) + f"; {commit}",
    ]


def load_average() -> str:
    try:
        return "%.2f" % os.getloadavg()[0]
    except OSError:
        return "?"


# --- main ---------------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="one round with smaller sizes (about a minute; for CI)")
    parser.add_argument("--scenarios",
                        default=",".join(SCENARIOS + ["scaling", "core_decode"]),
                        help="comma-separated subset of: " + ", ".join(SCENARIOS)
                        + ", scaling, core_decode (default: all)")
    parser.add_argument("--libs", default=",".join(LIBS),
                        help="comma-separated subset of: " + ", ".join(LIBS))
    parser.add_argument("--rounds", type=int, help="rounds (default 5, or 1 with --quick)")
    parser.add_argument("--json", type=Path, help="also write every result to this file")
    parser.add_argument("--plot", type=Path, metavar="FILE.png",
                        help="draw the scaling curves and the ratio table (matplotlib)")
    parser.add_argument("--log-dir", type=Path,
                        help="keep the worker and IOC logs here (default: a temp dir)")
    args = parser.parse_args(argv)
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    args.libs = [lib for lib in args.libs.split(",") if lib]
    unknown = set(args.scenarios) - set(SCENARIOS) - {"scaling", "core_decode"}
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if set(args.libs) - set(LIBS):
        parser.error(f"unknown libraries: {', '.join(sorted(set(args.libs) - set(LIBS)))}")
    if args.plot is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            parser.error("--plot needs matplotlib (pip install matplotlib)")
    if "pyepics" not in args.libs:
        args.libs.insert(0, "pyepics")  # the reference for every ratio
    args.libs = [lib for lib in LIBS if lib in args.libs]
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    sizes = dict(QUICK if args.quick else FULL)
    rounds = args.rounds or sizes["rounds"]
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="epics-compat-bench-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    load_before = load_average()

    port = find_free_port()
    prefix = f"bench{os.getpid()}:"
    database = log_dir / "bench.db"
    scaling = "scaling" in args.scenarios
    write_database(database, sizes["npvs"], max(sizes["scale_ns"]) if scaling else 0)
    env = {**os.environ, **client_env(port),
           # pyepics' default, given to all three alike
           "EPICS_CA_MAX_ARRAY_BYTES": str(2 ** 24),
           "PYTHONPATH": os.pathsep.join(
               [str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")] if p])}
    worker_args = {
        "import": {},
        "caget_many": {"prefix": prefix, "npvs": sizes["npvs"]},
        "pv_connect": {"prefix": prefix, "npvs": sizes["npvs"]},
        "get": {"prefix": prefix, "n": sizes["n_get"], "warmup": sizes["warmup"]},
        "ca_get": {"prefix": prefix, "n": sizes["n_get"], "warmup": sizes["warmup"]},
        "put_wait": {"prefix": prefix, "n": sizes["n_put"], "warmup": sizes["warmup"]},
        "wave_get": {"prefix": prefix, "nwave": sizes["nwave"]},
        "wave_put": {"prefix": prefix, "nwave": sizes["nwave"]},
        "cached_get": {"prefix": prefix, "n": sizes["n_get"], "warmup": sizes["warmup"]},
        "wave_first": {"prefix": prefix, "nfirst": sizes["nfirst"]},
        "wave_100k": {"prefix": prefix, "n100k": sizes["n100k"]},
        "many_monitors": {"prefix": prefix, "npvs": sizes["npvs"],
                          "seconds": sizes["monitor_seconds"]},
        "monitor": {"prefix": prefix, "nevents": sizes["nevents"],
                    "npaced": sizes["npaced"], "paced_rate": PACED_RATE,
                    "nstamps": sizes["nstamps"]},
        "aio_caget_many": {"prefix": prefix, "npvs": sizes["npvs"]},
        "aio_caget": {"prefix": prefix, "n": sizes["n_get"], "warmup": sizes["warmup"]},
        "aio_put_wait": {"prefix": prefix, "n": sizes["n_put"], "warmup": sizes["warmup"]},
        "aio_wave_first": {"prefix": prefix, "nfirst": sizes["nfirst"]},
        "aio_monitor": {"prefix": prefix, "nevents": sizes["nevents"],
                        "npaced": sizes["npaced"], "paced_rate": PACED_RATE,
                        "nstamps": sizes["nstamps"]},
        "floor": {"prefix": prefix, "n": sizes["n_get"], "warmup": sizes["warmup"],
                  "nwave": sizes["nwave"]},
    }
    with_floor = bool({"get", "ca_get", "put_wait", "wave_get", "wave_first"}
                      & set(args.scenarios))
    scenarios = [s for s in SCENARIOS if s in args.scenarios]
    results: dict = {}
    # pip compiles an installed package's bytecode; a checkout run with
    # PYTHONDONTWRITEBYTECODE would compile epics_compat at every import instead.
    # checked-hash: a file edited during the run is recompiled, never read stale.
    subprocess.run([sys.executable, "-m", "compileall", "-q", "--invalidation-mode",
                    "checked-hash", "epics_compat", "caproto_core"], cwd=str(REPO),
                   stdout=subprocess.DEVNULL, check=False)
    ioc = SoftIoc(port, prefix, db=database, log_path=log_dir / "softioc.log")
    print(f"softIoc on 127.0.0.1:{port}, {rounds} round(s) of {len(scenarios)} "
          f"scenario(s) x {len(args.libs)} libraries; logs in {log_dir}", flush=True)
    ioc.start()
    repeater = start_repeater(port + 1, log_dir / "repeater.log")
    try:
        if {"wave_get", "wave_put", "wave_first", "aio_wave_first"} & set(scenarios):
            for lib in args.libs:  # known contents for wbig, by the first library able
                setup = run_worker(lib, "setup", {"prefix": prefix}, env, 60.0,
                                   log_dir / "setup.log")
                if setup["status"] == "ok":
                    break
        for round_index in range(rounds):
            shift = round_index % len(args.libs)
            order = args.libs[shift:] + args.libs[:shift]
            for scenario in scenarios:
                for lib in order * REPEATS.get(scenario, 1):
                    result = run_worker(lib, scenario, worker_args[scenario], env,
                                        sizes["timeout"], log_dir / f"{lib}-{scenario}.log")
                    results.setdefault((lib, scenario), []).append(result)
                    status = result["status"]
                    shown = status if status != "ok" else ", ".join(
                        f"{k}={fmt(v)}" for k, v in result["metrics"].items())
                    print(f"  round {round_index + 1} {scenario:<10} {lib:<12} {shown}",
                          flush=True)
            if scaling and round_index == 0:  # once: the largest take minutes
                for n in sizes["scale_ns"]:
                    for lib in order:
                        result = run_worker(lib, "scale", {"prefix": prefix, "n": n}, env,
                                            max(sizes["timeout"], n / 100.0),
                                            log_dir / f"{lib}-scale.log")
                        results.setdefault((lib, f"scale_{n}"), []).append(result)
                        shown = result["status"] if result["status"] != "ok" else \
                            ", ".join(f"{k}={fmt(v)}" for k, v in result["metrics"].items())
                        print(f"  scaling {n:>6} PVs {lib:<12} {shown}", flush=True)
            if with_floor:
                result = run_worker("raw", "floor", worker_args["floor"], env,
                                    sizes["timeout"], log_dir / "floor.log")
                results.setdefault(("raw", "floor"), []).append(result)
    finally:
        repeater.terminate()
        repeater.wait()
        ioc.stop()
    core_decode = None
    if "core_decode" in args.scenarios:
        core_decode = run_core_decode(args.quick, sizes["timeout"])

    metrics = [m for m in metrics_table(sizes["npvs"]) if m.scenario in scenarios]
    summary = summarize(results, metrics, args.libs)
    elapsed = time.monotonic() - started

    print()
    print(f"epics_compat benchmarks, {time.strftime('%Y-%m-%d')}"
          f"{' (--quick)' if args.quick else ''}: median of {rounds} round(s) "
          f"[min-max], xN = ratio to pyepics in this run")
    for line in machine_description():
        print(line)
    print(f"load average {load_before} before, {load_average()} after; "
          f"run took {elapsed:.0f} s")
    if metrics:
        print(render_table(summary, metrics, args.libs))
    problems = []
    for (lib, scenario), runs in sorted(results.items()):
        for run in runs:
            if run["status"] == "error":
                problems.append(f"  error: {lib} {scenario}: {run['detail']} "
                                f"(log: {run['log']})")
        unavailable = {run["detail"] for run in runs if run["status"] == "unavailable"}
        for detail in sorted(unavailable):
            problems.append(f"  n/a: {lib} {scenario}: {detail}")
    if scaling:
        print(render_scaling(results, sizes["scale_ns"], args.libs))
    floor = floor_line(results.get(("raw", "floor"), []), summary)
    if floor:
        print(floor)
    if problems:
        print("\n".join(problems))
    if core_decode is not None:
        print(f"\ncore decode throughput (benchmarks/{CORE_DECODE.name}):")
        print("\n".join("  " + line for line in core_decode.splitlines()))
    if args.plot:
        plot(args.plot, results, summary, metrics, sizes["scale_ns"] if scaling else [],
             args.libs)
        print(f"plot written to {args.plot}")
    if args.json:
        args.json.write_text(json.dumps({
            "quick": args.quick, "rounds": rounds, "sizes": sizes,
            "machine": machine_description(), "elapsed_s": elapsed,
            "results": [{"lib": lib, "scenario": scenario, **run}
                        for (lib, scenario), runs in results.items() for run in runs],
            "summary": summary, "core_decode": core_decode,
        }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
