"""One benchmark scenario for one client library, in a process of its own.

``benchmarks/run.py`` starts this file once per (library, scenario, round) with the
client environment of its softIoc; it is not meant to be run by hand, but it can be:

    python benchmarks/_worker.py epics_compat get '{"prefix": "bench1:", "n": 2000}'

The last line of stdout is ``BENCH-RESULT <json>``: ``{"status": "ok", "metrics":
{...}}``, or ``"unavailable"`` when the library lacks the API the scenario uses (an
ImportError or AttributeError while *looking the API up*; errors later on are
``"error"``), or ``"error"`` with the exception text.

Only ``sys`` and ``time`` are imported before a scenario runs, so that the ``import``
scenario times the library's own import and nothing the harness pulled in first.
"""
import sys
import time

RESULT_MARKER = "BENCH-RESULT "

#: The module a user imports for each library: its top level has caget, PV, ...
LIBRARIES = {
    "pyepics": "epics",
    "caproto": "caproto.threading.pyepics_compat",
    "epics_compat": "epics_compat",
}
#: The pyepics-style ``ca`` module of each library, where there is one.
CA_MODULES = {
    "pyepics": "epics.ca",
    "epics_compat": "epics_compat.ca",
}


class Unavailable(Exception):
    """The library does not (yet) have what the scenario needs."""


def api(lib, *names):
    """The library's top-level module and the named attributes of it, or Unavailable."""
    import importlib
    try:
        module = importlib.import_module(LIBRARIES[lib])
        return [module] + [getattr(module, name) for name in names]
    except (ImportError, AttributeError) as exc:
        raise Unavailable(f"{type(exc).__name__}: {exc}") from None


def ca_module(lib):
    import importlib
    if lib not in CA_MODULES:
        raise Unavailable(f"{LIBRARIES[lib]} has no pyepics-style ca module")
    try:
        ca = importlib.import_module(CA_MODULES[lib])
        for name in ("create_channel", "connect_channel", "get"):
            getattr(ca, name)
        return ca
    except (ImportError, AttributeError) as exc:
        raise Unavailable(f"{type(exc).__name__}: {exc}") from None


def rss_mb():
    """Resident set size of this process in MB (VmRSS of /proc/self/status)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def names_2000(prefix, n):
    return [f"{prefix}b:{i:04d}" for i in range(n)]


def warm_up(lib, prefix):
    """One caget of a PV outside the measured set: context created, circuit open.

    Loading libca, starting the context's threads and connecting to the server are
    one-off costs of any first call; the connect scenarios measure what comes after.
    """
    _, caget = api(lib, "caget")
    if caget(prefix + "ai", timeout=10.0) is None:
        raise RuntimeError(f"warm-up caget of {prefix}ai failed")


# --- scenarios: each returns a dict of metrics ------------------------------------------

def scenario_import(lib, args):
    import importlib
    t0 = time.perf_counter()
    module = importlib.import_module(LIBRARIES[lib])
    t1 = time.perf_counter()
    for name in ("caget", "caput", "PV"):
        if not hasattr(module, name):
            raise Unavailable(f"{LIBRARIES[lib]} has no {name} yet")
    return {"import_ms": (t1 - t0) * 1e3, "rss_import_mb": rss_mb()}


def scenario_caget_many(lib, args):
    _, caget_many = api(lib, "caget_many")
    names = names_2000(args["prefix"], args["npvs"])
    warm_up(lib, args["prefix"])
    t0 = time.perf_counter()
    values = caget_many(names)
    t1 = time.perf_counter()
    bad = [name for name, value in zip(names, values) if value is None]
    if bad:
        raise RuntimeError(f"caget_many: {len(bad)} of {len(names)} PVs not read "
                           f"(first {bad[0]})")
    check = [float(v) for v in values[:3]]
    if check != [0.0, 1.0, 2.0][:len(check)]:
        raise RuntimeError(f"caget_many returned wrong values {check}")
    return {"caget_many_s": t1 - t0}


def scenario_pv_connect(lib, args):
    _, PV = api(lib, "PV")
    names = names_2000(args["prefix"], args["npvs"])
    warm_up(lib, args["prefix"])
    rss0 = rss_mb()
    t0 = time.perf_counter()
    pvs = [PV(name) for name in names]
    values = [pv.get() for pv in pvs]
    t1 = time.perf_counter()
    bad = [pv.pvname for pv, value in zip(pvs, values) if value is None]
    if bad:
        raise RuntimeError(f"PV.get: {len(bad)} of {len(names)} PVs not read "
                           f"(first {bad[0]})")
    time.sleep(0.5)  # let the monitors' first updates settle before measuring memory
    rss = rss_mb()
    return {"pv_connect_s": t1 - t0, "rss_mb": rss,
            "rss_per_pv_kb": (rss - rss0) * 1024.0 / len(names)}


def _connected_pv(PV, name, timeout=10.0):
    pv = PV(name, auto_monitor=False)
    if not pv.wait_for_connection(timeout=timeout):
        raise RuntimeError(f"{name} did not connect in {timeout} s")
    return pv


def scenario_get(lib, args):
    _, PV = api(lib, "PV")
    pv = _connected_pv(PV, args["prefix"] + "ao")
    get = pv.get
    for _ in range(args["warmup"]):
        get(use_monitor=False)
    n = args["n"]
    t0 = time.perf_counter()
    for _ in range(n):
        value = get(use_monitor=False)
    t1 = time.perf_counter()
    if value is None:
        raise RuntimeError("get returned None")
    return {"get_us": (t1 - t0) / n * 1e6}


def scenario_ca_get(lib, args):
    ca = ca_module(lib)
    chid = ca.create_channel(args["prefix"] + "ao", connect=True)
    if not ca.connect_channel(chid, timeout=10.0):
        raise RuntimeError("ao did not connect")
    get = ca.get
    for _ in range(args["warmup"]):
        get(chid)
    n = args["n"]
    t0 = time.perf_counter()
    for _ in range(n):
        value = get(chid)
    t1 = time.perf_counter()
    if value is None:
        raise RuntimeError("ca.get returned None")
    return {"ca_get_us": (t1 - t0) / n * 1e6}


def _time_puts(pv, args):
    """Wall and process-CPU microseconds per put(wait=True), after the warm-up."""
    put = pv.put
    for i in range(args["warmup"]):
        put(float(i % 10), wait=True)
    n = args["n"]
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(n):
        put(float(i % 10), wait=True)
    t1, c1 = time.perf_counter(), time.process_time()
    return (t1 - t0) / n * 1e6, (c1 - c0) / n * 1e6


def scenario_put_wait(lib, args):
    """put(wait=True) on a PV without a monitor, then on one made as users make it
    (``PV(name)``: auto_monitor on, so each put also brings a monitor update)."""
    _, PV = api(lib, "PV")
    wall, cpu = _time_puts(_connected_pv(PV, args["prefix"] + "ao"), args)
    monitored = PV(args["prefix"] + "putmon")
    if not monitored.wait_for_connection(timeout=10.0) or monitored.get() is None:
        raise RuntimeError("the monitored PV did not connect")
    wall_monitored, cpu_monitored = _time_puts(monitored, args)
    return {"put_wait_us": wall, "put_wait_cpu_us": cpu,
            "put_wait_monitored_us": wall_monitored,
            "put_wait_monitored_cpu_us": cpu_monitored}


WAVE_ELEMENTS = 1_000_000
WAVE_MB = WAVE_ELEMENTS * 8 / 1e6


def _wave_pv(lib, args):
    _, PV = api(lib, "PV")
    import numpy
    pv = _connected_pv(PV, args["prefix"] + "wbig")
    if pv.count != WAVE_ELEMENTS:
        raise RuntimeError(f"wbig has {pv.count} elements, expected {WAVE_ELEMENTS}")
    return pv, numpy


def _check_wave(value, numpy):
    if value is None or len(value) != WAVE_ELEMENTS:
        raise RuntimeError(f"wbig get returned {None if value is None else len(value)} "
                           f"elements")
    if not (value[0] == 0.0 and value[-1] == WAVE_ELEMENTS - 1
            and value[WAVE_ELEMENTS // 2] == WAVE_ELEMENTS // 2):
        raise RuntimeError("wbig get returned wrong contents")


def scenario_wave_get(lib, args):
    pv, numpy = _wave_pv(lib, args)
    _check_wave(pv.get(use_monitor=False), numpy)  # warm-up: buffers allocated once
    times = []
    for _ in range(args["nwave"]):
        t0 = time.perf_counter()
        value = pv.get(use_monitor=False)
        times.append(time.perf_counter() - t0)
        _check_wave(value, numpy)
    total = sum(times)
    return {"wave_get_mbs": WAVE_MB * len(times) / total}


def scenario_wave_put(lib, args):
    pv, numpy = _wave_pv(lib, args)
    data = numpy.arange(WAVE_ELEMENTS, dtype=numpy.float64)
    pv.put(data, wait=True)  # warm-up
    times = []
    for _ in range(args["nwave"]):
        t0 = time.perf_counter()
        pv.put(data, wait=True)
        times.append(time.perf_counter() - t0)
    return {"wave_put_mbs": WAVE_MB * len(times) / sum(times)}


def scenario_cached_get(lib, args):
    """get() of a PV made as users make it (monitor on): the value the monitor keeps."""
    _, PV = api(lib, "PV")
    pv = PV(args["prefix"] + "ao")
    if not pv.wait_for_connection(timeout=10.0) or pv.get() is None:
        raise RuntimeError("the monitored PV did not connect")
    get = pv.get
    for _ in range(args["warmup"]):
        get()
    n = args["n"] * 10
    t0 = time.perf_counter()
    for _ in range(n):
        value = get()
    t1 = time.perf_counter()
    if value is None:
        raise RuntimeError("cached get returned None")
    return {"cached_get_us": (t1 - t0) / n * 1e6}


def scenario_wave_first(lib, args):
    """The first gets of 1,000,000 doubles in a fresh process, the first one included
    (what a script that reads an image a few times sees)."""
    pv, numpy = _wave_pv(lib, args)
    t0 = time.perf_counter()
    for _ in range(args["nfirst"]):
        value = pv.get(use_monitor=False)
    elapsed = time.perf_counter() - t0
    _check_wave(value, numpy)
    return {"wave_first_mbs": WAVE_MB * args["nfirst"] / elapsed}


WAVE_100K = 100_000


def scenario_wave_100k(lib, args):
    """get and put(wait=True) of 100,000 doubles (a spectrum, a line of an image)."""
    _, PV = api(lib, "PV")
    import numpy
    pv = _connected_pv(PV, args["prefix"] + "w100k")
    data = numpy.arange(WAVE_100K, dtype=numpy.float64)
    pv.put(data, wait=True)
    value = pv.get(use_monitor=False)
    if value is None or len(value) != WAVE_100K or value[-1] != WAVE_100K - 1:
        raise RuntimeError("w100k did not read back what was written")
    n = args["n100k"]
    t0 = time.perf_counter()
    for _ in range(n):
        pv.get(use_monitor=False)
    t1 = time.perf_counter()
    for _ in range(n):
        pv.put(data, wait=True)
    t2 = time.perf_counter()
    return {"wave100k_get_ms": (t1 - t0) / n * 1e3, "wave100k_put_ms": (t2 - t1) / n * 1e3}


def scenario_many_monitors(lib, args):
    """Monitors on npvs records that the IOC updates 10 times a second each (calc
    records scanned at .1 second, enabled for this scenario only): updates received per
    second and the client's CPU, over ``seconds``."""
    _, PV, caput = api(lib, "PV", "caput")
    import threading
    names = [f"{args['prefix']}m:{i:04d}" for i in range(args["npvs"])]
    counts = [0]
    lock = threading.Lock()

    def on_update(**kw):
        with lock:
            counts[0] += 1

    pvs = [PV(name, callback=on_update) for name in names]
    for pv in pvs:
        if not pv.wait_for_connection(timeout=30.0):
            raise RuntimeError(f"{pv.pvname} did not connect")
    caput(args["prefix"] + "m:enable", 1, wait=True)
    try:
        time.sleep(1.0)  # every record scanning, every first update in
        with lock:
            start_count = counts[0]
        t0, c0 = time.perf_counter(), time.process_time()
        time.sleep(args["seconds"])
        with lock:
            received = counts[0] - start_count
        t1, c1 = time.perf_counter(), time.process_time()
    finally:
        caput(args["prefix"] + "m:enable", 0, wait=True)
    offered = args["npvs"] * 10.0
    rate = received / (t1 - t0)
    if rate < 0.5 * offered:
        raise RuntimeError(f"only {rate:.0f} of {offered:.0f} updates/s arrived")
    return {"many_monitors_eps": rate, "many_monitors_cpu_pct": (c1 - c0) / (t1 - t0) * 100,
            "many_monitors_cpu_us": (c1 - c0) / received * 1e6}


def scenario_scale(lib, args):
    """Connect and first read of ``n`` PV objects made as users make them (monitor on),
    in a fresh process: seconds, and time and memory per PV."""
    _, PV = api(lib, "PV")
    n = args["n"]
    names = [f"{args['prefix']}s:{i:05d}" for i in range(n)]
    warm_up(lib, args["prefix"])
    rss0 = rss_mb()
    t0 = time.perf_counter()
    pvs = [PV(name) for name in names]
    values = [pv.get(timeout=30.0) for pv in pvs]
    t1 = time.perf_counter()
    missing = sum(value is None for value in values)
    if missing:
        raise RuntimeError(f"{missing} of {n} PVs not read")
    time.sleep(0.5)  # the monitors' first updates are in before memory is measured
    rss = rss_mb()
    return {"scale_s": t1 - t0, "scale_us_per_pv": (t1 - t0) / n * 1e6,
            "scale_kb_per_pv": (rss - rss0) * 1024.0 / n}


def scenario_monitor(lib, args):
    """Monitor throughput, loss, CPU per update and latency, with a libca writer.

    The writer (``_worker.py pyepics writer``, the same for every library under test)
    puts -3 then -1 to ``counter`` (ao, MDEL -1: every put posts an event), then 0..n-1
    as fast as libca sends them, then -2. Every event between the markers is recorded here; a
    missing or repeated value is a lost event. How fast the writer goes depends on the CPU
    the subscriber leaves it (two cores for writer, IOC and subscriber), so, when told, it
    puts -4, then PACED_OFFSET + 0..npaced-1 held to ``paced_rate`` puts/s, then -5: losses
    at the same offered rate for every library. Then, when told, it puts its
    ``time.monotonic()`` to ``stamp`` at a steady pace: the latency is the receiver's
    monotonic clock minus the value (one machine, one clock).
    """
    _, PV = api(lib, "PV")
    import subprocess
    import threading
    prefix, n, nstamps = args["prefix"], args["nevents"], args["nstamps"]
    npaced = args["npaced"]
    values, times, paced = [], [], []
    marks = {}
    # 0: before the writer's reset (-3), 1: before its start (-1), 2: burst, 3: before the
    # paced run (-4), 4: paced run, 5: done
    phase = [0]
    started = threading.Event()
    finished = threading.Event()
    paced_finished = threading.Event()

    def on_counter(value=None, **kw):
        if phase[0] == 2:
            if value == -2.0:
                marks["cpu1"] = time.process_time()
                phase[0] = 3
                finished.set()
            else:
                times.append(time.perf_counter())
                values.append(value)
        elif phase[0] == 4:
            if value == -5.0:
                phase[0] = 5
                paced_finished.set()
            else:
                paced.append(value)
        elif phase[0] == 3 and value == -4.0:
            phase[0] = 4
        elif phase[0] == 0 and value == -3.0:
            phase[0] = 1
        elif phase[0] == 1 and value == -1.0:
            marks["cpu0"] = time.process_time()
            phase[0] = 2
            started.set()

    go = [float("inf")]
    latencies = []
    stamps_done = threading.Event()

    def on_stamp(value=None, **kw):
        now = time.monotonic()
        if value == -1.0:
            if now > go[0]:
                stamps_done.set()
        elif value is not None and value > go[0]:
            latencies.append(now - value)

    counter = PV(prefix + "counter", callback=on_counter)
    stamp = PV(prefix + "stamp", callback=on_stamp)
    for pv in (counter, stamp):
        if not pv.wait_for_connection(timeout=10.0):
            raise RuntimeError(f"{pv.pvname} did not connect")
    time.sleep(0.3)  # the subscriptions are in place once the first updates are in
    import json
    writer = subprocess.Popen(
        [sys.executable, __file__, "pyepics", "writer", json.dumps(args)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        if not started.wait(30.0):
            raise RuntimeError("the writer's start marker never arrived")
        # Generous: even 1,000 events/s finish in time.
        if not finished.wait(30.0 + n / 1000.0):
            raise RuntimeError(f"the writer's end marker never arrived "
                               f"({len(values)} of {n} events in)")
        writer.stdin.write("paced\n")
        writer.stdin.flush()
        if not paced_finished.wait(30.0 + npaced / args["paced_rate"]):
            raise RuntimeError(f"the paced run's end marker never arrived "
                               f"({len(paced)} of {npaced} events in)")
        go[0] = time.monotonic()
        writer.stdin.write("go\n")
        writer.stdin.flush()
        if not stamps_done.wait(30.0):
            raise RuntimeError("the latency phase did not finish")
        out = writer.communicate(timeout=30.0)[0]
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    if writer.returncode:
        raise RuntimeError(f"writer failed with status {writer.returncode}: {out}")
    writer_result = json.loads(out.splitlines()[-1][len(RESULT_MARKER):])
    if writer_result["status"] != "ok":
        raise RuntimeError(f"writer: {writer_result.get('detail')}")
    received = len(values)
    lost = _lost(values, 0, n)
    paced_lost = _lost(paced, PACED_OFFSET, npaced)
    if received < 2 or not latencies:
        raise RuntimeError(f"too few events: {received} counter, {len(latencies)} stamp")
    latencies.sort()
    return {
        "monitor_eps": (received - 1) / (times[-1] - times[0]),
        "writer_eps": writer_result["metrics"]["writer_eps"],
        "monitor_lost": lost,
        "monitor_paced_lost": paced_lost,
        "paced_writer_eps": writer_result["metrics"]["paced_writer_eps"],
        "cpu_per_10k_s": (marks["cpu1"] - marks["cpu0"]) / received * 1e4,
        "latency_ms": latencies[len(latencies) // 2] * 1e3,
        "latency_p99_ms": latencies[min(len(latencies) - 1,
                                        int(len(latencies) * 0.99))] * 1e3,
    }


#: The paced run's values start here, far from the burst's.
PACED_OFFSET = 1_000_000


def _lost(values, first, count):
    """Events of first..first+count-1 missing from ``values``, plus those out of order."""
    distinct = set(values) & set(float(first + i) for i in range(count))
    return count - len(distinct) + sum(1 for a, b in zip(values, values[1:]) if b <= a)


def role_writer(lib, args):
    """The monitor scenario's writer: libca through pyepics' ctypes binding."""
    import ctypes
    from epics import ca, dbr
    libca = ca.initialize_libca()
    prefix, n, nstamps = args["prefix"], args["nevents"], args["nstamps"]
    counter = ca.create_channel(prefix + "counter", connect=True)
    stamp = ca.create_channel(prefix + "stamp", connect=True)
    ca.put(counter, -3.0, wait=True)
    ca.put(counter, -1.0, wait=True)
    value = ctypes.c_double()
    ref = ctypes.byref(value)
    put, flush = libca.ca_array_put, libca.ca_flush_io
    t0 = time.perf_counter()
    for i in range(n):
        value.value = i
        put(dbr.DOUBLE, 1, counter, ref)
        if i % 50 == 49:
            flush()
    flush()
    ca.put(counter, -2.0, wait=True)
    t1 = time.perf_counter()
    sys.stdin.readline()  # "paced": the receiver has taken in the burst
    npaced, rate = args["npaced"], args["paced_rate"]
    # The paced run's markers are not waited for: the receiver waits for their updates,
    # and TCP keeps them in order with the values. (Once in CI the pyepics run's next
    # phase did not start within 30 s; a put(wait=True) sitting out its own 30 s timeout
    # would explain it. Not reproduced in 12 runs.)
    ca.put(counter, -4.0)
    t2 = time.perf_counter()
    for i in range(npaced):
        value.value = PACED_OFFSET + i
        put(dbr.DOUBLE, 1, counter, ref)
        if i % 20 == 19:  # a batch each millisecond at 20,000/s, then wait for its time
            flush()
            ahead = t2 + (i + 1) / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
    flush()
    t3 = time.perf_counter()
    ca.put(counter, -5.0)
    flush()
    sys.stdin.readline()  # "go": the receiver has taken in the paced run
    for _ in range(nstamps):
        value.value = time.monotonic()
        put(dbr.DOUBLE, 1, stamp, ref)
        flush()
        time.sleep(0.002)
    ca.put(stamp, -1.0, wait=True)
    return {"writer_eps": n / (t1 - t0), "paced_writer_eps": npaced / (t3 - t2)}


def role_floor(lib, args):
    """What the server and the loopback allow: a raw socket, one thread, no decoding.

    Not a client: it sends hand-made READ_NOTIFY and WRITE_NOTIFY requests and waits
    for the replies with blocking recv (a 1M-element reply goes straight into a
    preallocated buffer). No library can be faster than this on the same machine. The
    monitored put subscribes first, as PV(name) does, and waits for the completion and
    the update the put brings.
    """
    import os
    import socket
    import struct
    header = struct.Struct(">HHHHII")

    def padded(text):
        raw = text.encode() + b"\0"
        return raw + b"\0" * (-len(raw) % 8)

    port = int(os.environ["EPICS_CA_SERVER_PORT"])
    sock = socket.create_connection(("127.0.0.1", port), timeout=10.0)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    names = [args["prefix"] + "ao", args["prefix"] + "wbig", args["prefix"] + "putmon"]
    hello = header.pack(0, 0, 0, 13, 0, 0)
    hello += header.pack(21, 8, 0, 0, 0, 0) + padded("bench")
    hello += header.pack(20, 8, 0, 0, 0, 0) + padded("bench")
    for cid, name in enumerate(names):
        hello += header.pack(18, len(padded(name)), 0, 0, cid, 13) + padded(name)
    sock.sendall(hello)
    sids, buffer = {}, b""
    while len(sids) < len(names):
        buffer += sock.recv(65536)
        while len(buffer) >= 16:
            command, size, _, _, parameter1, parameter2 = header.unpack_from(buffer)
            start = 16
            if size == 0xFFFF:  # extended header (wbig's count is over 65535)
                if len(buffer) < 24:
                    break
                size = struct.unpack_from(">I", buffer, 16)[0]
                start = 24
            if len(buffer) < start + size:
                break
            if command == 18:  # CREATE_CHAN reply: cid, sid
                sids[parameter1] = parameter2
            buffer = buffer[start + size:]

    def round_trip(request, reply_size):
        sock.sendall(request)
        got = 0
        while got < reply_size:
            got += sock.recv_into(view[got:reply_size])

    view = memoryview(bytearray(24 + WAVE_ELEMENTS * 8))
    n = args["n"]
    read_ao = header.pack(15, 0, 6, 1, sids[0], 1)
    for _ in range(args["warmup"]):
        round_trip(read_ao, 24)
    t0 = time.perf_counter()
    for _ in range(n):
        round_trip(read_ao, 24)
    get_us = (time.perf_counter() - t0) / n * 1e6
    t0 = time.perf_counter()
    for i in range(n // 2):
        round_trip(header.pack(19, 8, 6, 1, sids[0], 2) + struct.pack(">d", i % 10), 16)
    put_us = (time.perf_counter() - t0) / (n // 2) * 1e6
    # DBR_TIME_DOUBLE updates (16-byte header, 24-byte payload), DBE_VALUE | DBE_ALARM
    update_size = 16 + 24
    round_trip(header.pack(1, 16, 20, 1, sids[2], 7) + struct.pack(">fffHH", 0, 0, 0, 5, 0),
               update_size)  # the subscription's first update
    t0 = time.perf_counter()
    for i in range(n // 2):
        round_trip(header.pack(19, 8, 6, 1, sids[2], 4) + struct.pack(">d", i % 10),
                   16 + update_size)
    put_monitored_us = (time.perf_counter() - t0) / (n // 2) * 1e6
    read_wave = header.pack(15, 0xFFFF, 6, 0, sids[1], 3) + struct.pack(">II", 0, WAVE_ELEMENTS)
    round_trip(read_wave, 24 + WAVE_ELEMENTS * 8)
    times = []
    for _ in range(args["nwave"]):
        t0 = time.perf_counter()
        round_trip(read_wave, 24 + WAVE_ELEMENTS * 8)
        times.append(time.perf_counter() - t0)
    sock.close()
    return {"floor_get_us": get_us, "floor_put_wait_us": put_us,
            "floor_put_wait_monitored_us": put_monitored_us,
            "floor_wave_get_mbs": WAVE_MB * len(times) / sum(times)}


def role_setup(lib, args):
    """Before the rounds: known contents for wbig (0, 1, 2, ...)."""
    _, PV = api(lib, "PV")
    import numpy
    pv = _connected_pv(PV, args["prefix"] + "wbig")
    pv.put(numpy.arange(WAVE_ELEMENTS, dtype=numpy.float64), wait=True)
    return {}


SCENARIOS = {
    "import": scenario_import,
    "caget_many": scenario_caget_many,
    "pv_connect": scenario_pv_connect,
    "get": scenario_get,
    "ca_get": scenario_ca_get,
    "put_wait": scenario_put_wait,
    "wave_get": scenario_wave_get,
    "wave_put": scenario_wave_put,
    "monitor": scenario_monitor,
    "cached_get": scenario_cached_get,
    "wave_first": scenario_wave_first,
    "wave_100k": scenario_wave_100k,
    "many_monitors": scenario_many_monitors,
    "scale": scenario_scale,
    "writer": role_writer,
    "floor": role_floor,
    "setup": role_setup,
}


def report(measure) -> None:
    """Run ``measure()`` (it returns the metrics) and print its result line: ok,
    unavailable or error. Also the protocol of benchmarks/_aioca_worker.py."""
    try:
        result = {"status": "ok", "metrics": measure()}
    except Unavailable as exc:
        result = {"status": "unavailable", "detail": str(exc)}
    except Exception as exc:
        import traceback
        traceback.print_exc()
        result = {"status": "error", "detail": f"{type(exc).__name__}: {exc}"}
    import json
    sys.stdout.write("\n" + RESULT_MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()


def main(argv):
    lib, scenario, raw = argv[1], argv[2], argv[3] if len(argv) > 3 else "{}"

    def measure():
        if scenario == "import":  # nothing but the library may be imported first
            return SCENARIOS[scenario](lib, {})
        import json
        return SCENARIOS[scenario](lib, json.loads(raw))

    report(measure)


if __name__ == "__main__":
    main(sys.argv)
