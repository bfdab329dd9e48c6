"""The asyncio scenarios of benchmarks/run.py: aioca's API, one library per process.

``pyepics`` here means real aioca (libca through ctypes: the column run.py compares
against), ``epics_compat`` means ``epics_compat.aioca``; caproto has no aioca API. The
protocol is ``_worker.py``'s (the last line of stdout is ``BENCH-RESULT <json>``), and
the monitor scenario uses its libca writer.
"""
import sys
import time

from _worker import WAVE_MB, Unavailable, _check_wave, _lost, names_2000, report, rss_mb


def aioca_module(lib):
    if lib == "pyepics":
        import aioca
        return aioca
    if lib == "epics_compat":
        import epics_compat.aioca
        return epics_compat.aioca
    raise Unavailable(f"{lib} has no aioca API")


async def scenario_aio_caget_many(aioca, args):
    """Connect and read npvs PVs with one caget of the list (one gather)."""
    await aioca.caget(args["prefix"] + "ai", timeout=10.0)  # context and circuit up
    names = names_2000(args["prefix"], args["npvs"])
    t0 = time.perf_counter()
    values = await aioca.caget(names, timeout=30.0)
    t1 = time.perf_counter()
    if len(values) != len(names):
        raise RuntimeError(f"{len(values)} values for {len(names)} PVs")
    return {"aio_caget_many_s": t1 - t0, "aio_rss_mb": rss_mb()}


async def scenario_aio_caget(aioca, args):
    """caget of a connected scalar, one after the other."""
    name = args["prefix"] + "ai"
    for _ in range(args["warmup"]):
        await aioca.caget(name)
    n = args["n"]
    t0 = time.perf_counter()
    for _ in range(n):
        await aioca.caget(name)
    return {"aio_caget_us": (time.perf_counter() - t0) / n * 1e6}


async def scenario_aio_put_wait(aioca, args):
    """caput(wait=True) of a scalar, one after the other: wall and CPU per put."""
    name = args["prefix"] + "ao"
    for i in range(args["warmup"]):
        await aioca.caput(name, float(i % 10), wait=True)
    n = args["n"]
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(n):
        await aioca.caput(name, float(i % 10), wait=True)
    t1, c1 = time.perf_counter(), time.process_time()
    return {"aio_put_wait_us": (t1 - t0) / n * 1e6,
            "aio_put_wait_cpu_us": (c1 - c0) / n * 1e6}


async def scenario_aio_wave_first(aioca, args):
    """The first cagets of 1,000,000 doubles in a fresh process, the first included (as
    scenario_wave_first does with PV.get)."""
    import numpy
    name = args["prefix"] + "wbig"
    await aioca.connect(name, timeout=10.0)
    t0 = time.perf_counter()
    for _ in range(args["nfirst"]):
        value = await aioca.caget(name, timeout=20.0)
    elapsed = time.perf_counter() - t0
    _check_wave(value, numpy)
    return {"aio_wave_first_mbs": WAVE_MB * args["nfirst"] / elapsed}


async def scenario_aio_monitor(aioca, args):
    """camonitor(all_updates=True) of the counter that _worker.py's libca writer drives
    (burst, paced run, then time stamps): updates/s, lost, CPU and latency."""
    import asyncio
    import json
    import subprocess
    from pathlib import Path
    prefix, n = args["prefix"], args["nevents"]
    values, times, latencies = [], [], []
    phase, marks = [0], {}
    events = {name: asyncio.Event() for name in ("started", "burst", "paced", "stamps")}
    go = [float("inf")]

    def on_counter(value):
        value = float(value)
        if phase[0] == 0 and value == -1.0:
            marks["cpu0"] = time.process_time()
            phase[0] = 1
            events["started"].set()
        elif phase[0] == 1:
            if value == -2.0:
                marks["cpu1"] = time.process_time()
                phase[0] = 2
                events["burst"].set()
            else:
                times.append(time.perf_counter())
                values.append(value)
        elif phase[0] == 2 and value == -5.0:
            phase[0] = 3
            events["paced"].set()

    def on_stamp(value):
        now = time.monotonic()
        if float(value) == -1.0 and now > go[0]:
            events["stamps"].set()
        elif float(value) > go[0]:
            latencies.append(now - float(value))

    subscriptions = [aioca.camonitor(prefix + "counter", on_counter, all_updates=True),
                     aioca.camonitor(prefix + "stamp", on_stamp, all_updates=True)]
    await aioca.connect([prefix + "counter", prefix + "stamp"], timeout=10.0)
    await asyncio.sleep(0.3)
    writer = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("_worker.py")), "pyepics", "writer",
         json.dumps(args)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        await asyncio.wait_for(events["started"].wait(), 30.0)
        await asyncio.wait_for(events["burst"].wait(), 30.0 + n / 1000.0)
        writer.stdin.write("paced\n")
        writer.stdin.flush()
        await asyncio.wait_for(events["paced"].wait(),
                               30.0 + args["npaced"] / args["paced_rate"])
        go[0] = time.monotonic()
        writer.stdin.write("go\n")
        writer.stdin.flush()
        await asyncio.wait_for(events["stamps"].wait(), 30.0)
        writer.communicate(timeout=30.0)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
        for subscription in subscriptions:
            subscription.close()
    if len(values) < 2 or not latencies:
        raise RuntimeError(f"too few events: {len(values)} counter, {len(latencies)} stamp")
    latencies.sort()
    return {"aio_monitor_eps": (len(values) - 1) / (times[-1] - times[0]),
            "aio_monitor_lost": _lost(values, 0, n),
            "aio_cpu_per_10k_s": (marks["cpu1"] - marks["cpu0"]) / len(values) * 1e4,
            "aio_latency_ms": latencies[len(latencies) // 2] * 1e3}


SCENARIOS = {
    "aio_caget_many": scenario_aio_caget_many,
    "aio_caget": scenario_aio_caget,
    "aio_put_wait": scenario_aio_put_wait,
    "aio_wave_first": scenario_aio_wave_first,
    "aio_monitor": scenario_aio_monitor,
}


def main(argv):
    import asyncio
    import json
    lib, scenario, args = argv[1], argv[2], json.loads(argv[3])
    report(lambda: asyncio.run(SCENARIOS[scenario](aioca_module(lib), args)))
    import os
    os._exit(0)  # libca's threads (aioca) must not hold up the exit


if __name__ == "__main__":
    main(sys.argv)
