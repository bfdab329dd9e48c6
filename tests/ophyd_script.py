"""ophyd and bluesky scenarios, run in a fresh process with pyepics or epics_compat.

    python tests/ophyd_script.py LIB PREFIX SIM SECTION [SECTION ...]

LIB is ``pyepics`` or ``epics_compat`` (which is installed as ``epics`` before ophyd is
imported), PREFIX the softIoc's record prefix (records ``oph:*`` of tests/db/test.db),
SIM the prefix of what epics_compat.server serves: simulated motor records ``SIM m1``
and ``SIM m2`` (limit switches at -1 and 1.5) and a double ``SIM sim``. Each SECTION
(``signals``, ``device``, ``motor``, ``lifecycle``, ``bluesky``) adds one entry to a
JSON dict printed as the last line of stdout. A section that needs the server to do
something prints ``@COMMAND ARGS`` and waits for a line on stdin (see ``ask``).

The tests run this once per library and compare the dicts: ophyd and bluesky must see
the same through either library. Values that cannot agree between two runs
(timestamps, uids, durations) are reduced to what must hold for them.
"""
from __future__ import annotations

import json
import math
import re
import sys
import threading
import time

LIB, PREFIX, SIM, *SECTIONS = sys.argv[1:]
MOTOR = SIM + "m1"
if LIB == "epics_compat":
    import epics_compat
    epics_compat.install_as_epics()

import numpy as np  # noqa: E402
import ophyd  # noqa: E402

ophyd.set_cl("pyepics")

from ophyd import (Component as Cpt, Device, EpicsMotor, EpicsSignal,  # noqa: E402
                   EpicsSignalRO, EpicsSignalWithRBV, Kind)

START = time.time()
#: Timestamps of records that never processed (EPICS epoch 0, in POSIX seconds).
EPICS_EPOCH = 631152000.0
#: A timestamp inside a repr (ophyd's signal reprs show one).
REPR_TIMESTAMP = re.compile(r"timestamp=[-+0-9.e]+")
#: Generous: on a loaded 2-core machine libca's first connection has taken over 5 s.
CONNECT_TIMEOUT = 20

def pv(name: str) -> str:
    return PREFIX + name


def stamp(ts) -> str:
    """A timestamp as what must hold for it: 'epoch' (never processed) or 'recent'."""
    if ts is None:
        return None
    if ts == EPICS_EPOCH:
        return "epoch"
    if isinstance(ts, float) and START - 600 < ts < time.time() + 1:
        return "recent"
    return f"implausible: {ts!r}"


def plain(value):
    """JSON-ready and comparable: arrays as (dtype, list), timestamps reduced."""
    if isinstance(value, np.ndarray):
        return {"ndarray": str(value.dtype), "values": [plain(v) for v in value.tolist()]}
    if isinstance(value, np.generic):
        return {"numpy": type(value).__name__, "value": plain(value.item())}
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, dict):
        return {str(key): (stamp(val) if str(key).endswith("timestamp") else plain(val))
                for key, val in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return REPR_TIMESTAMP.sub("timestamp=T", value)
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    return plain(repr(value))


def wait_for(predicate, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


def settled(motor) -> bool:
    """Wait until ophyd is done with the motor's last move.

    ophyd finishes a move's status (waking whoever waits for it) on its callback thread
    before it drops the move's done-subscriptions. A move started in between runs the
    old status's callback again (InvalidState) and then loses its own subscription to
    that clearing, so it never completes: seen with pyepics on a loaded CI machine, a
    race in ophyd that either library can meet. The script's moves wait it out.
    """
    return wait_for(lambda: not motor._callbacks[motor._SUB_REQ_DONE])


def move(motor, position):
    """``motor.set(position)``, once the motor has settled."""
    settled(motor)
    return motor.set(position)


def error(func, *args, **kwargs):
    """The exception ``func`` raises, as [type name, message], or its result."""
    try:
        return ["returned", plain(func(*args, **kwargs))]
    except Exception as exc:  # noqa: BLE001 - comparing what each library raises
        return [type(exc).__name__, plain(str(exc))]


def ask(*command) -> str:
    """Have the test process do ``command`` to the server (restart, write); its answer."""
    print("@" + " ".join(str(word) for word in command), flush=True)
    return sys.stdin.readline().strip()


def reset() -> None:
    """Put the records the scenarios write back to their initial values."""
    for name, value in (("oph:x", 0.0), ("oph:mode", 0), ("oph:count", 7),
                        ("oph:name", "sample A"), ("oph:slow", 0),
                        ("oph:text", "hello ophyd"), ("oph:wave", [0.5, 1.5, 2.5])):
        epics.caput(pv(name), value, wait=True, timeout=5)


def signal_report(sig) -> dict:
    """What ophyd tells about one connected signal."""
    return {
        "read": plain(sig.read()),
        "describe": plain(sig.describe()),
        "get": plain(sig.get()),
        "get str": plain(sig.get(as_string=True)),
        "metadata": plain({key: val for key, val in sig.metadata.items()}),
        "limits": plain(sig.limits),
        "precision": plain(sig.precision),
        "alarm": [str(sig.alarm_status), str(sig.alarm_severity)],
        "access": [sig.connected, sig.read_access, sig.write_access],
        "timestamp": stamp(sig.timestamp),
    }


# --- sections --------------------------------------------------------------------------

def signals() -> dict:
    out = {}
    sigs = {
        "x": EpicsSignal(pv("oph:x"), name="x"),
        "det ro": EpicsSignalRO(pv("oph:det"), name="det"),
        "mode str": EpicsSignal(pv("oph:mode"), name="mode", string=True),
        "mode": EpicsSignal(pv("oph:mode"), name="mode_num"),
        "count": EpicsSignal(pv("oph:count"), name="count"),
        "name": EpicsSignal(pv("oph:name"), name="sample"),
        "wave": EpicsSignalRO(pv("oph:wave"), name="wave"),
        "text": EpicsSignalRO(pv("oph:text"), name="text", string=True),
        "rbv": EpicsSignalWithRBV(pv("oph:x"), name="xr"),
        "monitored": EpicsSignal(pv("oph:x_RBV"), name="mon", auto_monitor=True),
    }
    for sig in sigs.values():
        sig.wait_for_connection(timeout=CONNECT_TIMEOUT)
    for key, sig in sigs.items():
        out[key] = signal_report(sig)

    x = sigs["x"]
    status = x.set(35.0)
    status.wait(5)
    out["set alarm"] = [status.done, status.success, plain(x.get()),
                        str(x.alarm_status), str(x.alarm_severity),
                        plain(sigs["rbv"].read())]
    status = x.set(-1.25)
    status.wait(5)
    out["set back"] = [status.done, status.success, plain(x.read()),
                       str(x.alarm_status), str(x.alarm_severity)]

    status = sigs["rbv"].set(2.5)
    status.wait(5)
    out["rbv set"] = [status.done, status.success, plain(sigs["rbv"].get()),
                      plain(sigs["rbv"].setpoint)]

    status = sigs["mode str"].set("Step")
    status.wait(5)
    out["enum set"] = [status.success, sigs["mode str"].get(), plain(sigs["mode"].get()),
                       plain(sigs["mode"].get(as_string=True))]
    out["enum bad"] = error(sigs["mode str"].put, "Nonsense")

    ro = sigs["det ro"]
    out["ro put"] = error(ro.put, 1.0)
    out["ro set"] = error(ro.set, 1.0)

    limited = EpicsSignal(pv("oph:x"), name="lim", limits=True)
    limited.wait_for_connection(timeout=CONNECT_TIMEOUT)
    out["limit"] = [plain(limited.limits), error(limited.put, 100.0),
                    error(limited.check_value, 100.0)]

    # Subscriptions: every update in order, with the keywords ophyd passes on.
    seen = []
    mon = sigs["monitored"]

    def on_value(value=None, old_value=None, timestamp=None, **kwargs):
        seen.append([plain(value), plain(old_value), stamp(timestamp),
                     sorted(kwargs)])
    cid = mon.subscribe(on_value)
    wait_for(lambda: len(seen) >= 1)
    for value in (1.0, 2.0, 3.0):
        x.set(value).wait(5)
    wait_for(lambda: len(seen) >= 4)
    time.sleep(0.2)
    mon.unsubscribe(cid)
    x.set(4.0).wait(5)
    time.sleep(0.2)
    out["subscribe"] = seen

    meta_seen = []
    cid = mon.subscribe(lambda **kw: meta_seen.append(
        {key: plain(val) for key, val in kw.items() if key not in ("obj", "timestamp")}),
        event_type=mon.SUB_META, run=True)
    wait_for(lambda: meta_seen)
    mon.unsubscribe(cid)
    out["meta subscribe"] = meta_seen[:1]

    slow = EpicsSignal(pv("oph:slow"), name="slow", put_complete=True)
    slow.wait_for_connection(timeout=CONNECT_TIMEOUT)
    start = time.monotonic()
    status = slow.set(3)
    done_at_once = status.done
    status.wait(5)
    took = time.monotonic() - start
    out["put complete"] = [done_at_once, status.done, status.success, 0.25 < took < 2.0,
                           plain(slow.get())]

    # Values of other kinds than the record's: numpy scalars, lists, text.
    text = EpicsSignal(pv("oph:text"), name="text_rw", string=True)
    wave = EpicsSignal(pv("oph:wave"), name="wave_rw")
    count = sigs["count"]
    for sig in (text, wave):
        sig.wait_for_connection(timeout=CONNECT_TIMEOUT)
    puts = []
    for sig, value in ((text, "new text"), (wave, [1, 2, 3, 4]), (wave, np.arange(5.0)),
                       (count, np.int64(12)), (x, np.float32(1.5)), (count, 3.0),
                       (sigs["mode"], 1), (sigs["mode str"], "Idle")):
        status = error(lambda: sig.set(value).wait(5))
        puts.append([status, plain(sig.get()), plain(sig.get(as_string=True)),
                     plain(sig.describe())])
    puts.append(plain(wave.get(count=2)))
    puts.append(plain(wave.get(use_monitor=False)))
    out["puts"] = puts

    lost = EpicsSignal(pv("oph:no_such_record"), name="lost")
    out["not connected"] = [error(lost.wait_for_connection, timeout=0.5),
                            lost.connected]
    out["repr"] = plain(repr(x).replace(PREFIX, "P:"))
    return out


class Stage(Device):
    x = Cpt(EpicsSignalWithRBV, "oph:x")
    det = Cpt(EpicsSignalRO, "oph:det", kind=Kind.hinted)
    mode = Cpt(EpicsSignal, "oph:mode", string=True, kind=Kind.config)
    count = Cpt(EpicsSignal, "oph:count", kind=Kind.config)
    label = Cpt(EpicsSignal, "oph:name", string=True, kind=Kind.omitted)


def device() -> dict:
    stage = Stage(PREFIX, name="stage")
    stage.wait_for_connection(timeout=CONNECT_TIMEOUT)
    out = {
        "read": plain(stage.read()),
        "describe": plain(stage.describe()),
        "read_configuration": plain(stage.read_configuration()),
        "describe_configuration": plain(stage.describe_configuration()),
        "hints": plain(stage.hints),
        "component_names": list(stage.component_names),
        "connected": stage.connected,
    }
    status = stage.x.set(3.0)
    status.wait(5)
    out["set"] = [status.success, plain(stage.det.get()), plain(stage.x.get())]
    out["after"] = plain(stage.read())
    out["repr"] = repr(stage).replace(PREFIX, "P:")
    return out


def motor() -> dict:
    m = EpicsMotor(MOTOR, name="m")
    m.wait_for_connection(timeout=CONNECT_TIMEOUT)
    move(m, 0.0).wait(10)
    out = {
        "read": plain(m.read()),
        "describe": plain(m.describe()),
        "read_configuration": plain(m.read_configuration()),
        "describe_configuration": plain(m.describe_configuration()),
        "hints": plain(m.hints),
        "limits": plain(m.limits),
        "egu": m.egu,
        "precision": m.precision,
        "position": m.position,
        "moving": m.moving,
    }
    positions = []
    cid = m.user_readback.subscribe(lambda value=None, **kw: positions.append(value),
                                    run=False)
    moving = []
    mcid = m.motor_is_moving.subscribe(lambda value=None, **kw: moving.append(value),
                                       run=False)
    start = time.monotonic()
    status = move(m, 1.0)
    done_at_once = status.done
    status.wait(10)
    took = time.monotonic() - start
    time.sleep(0.2)
    m.user_readback.unsubscribe(cid)
    m.motor_is_moving.unsubscribe(mcid)
    out["move"] = [done_at_once, status.done, status.success, m.position,
                   plain(m.user_setpoint.get()), 0.1 < took < 5]
    out["readbacks rose"] = [len(positions) >= 3, positions == sorted(positions),
                             positions[-1]]
    out["moving seen"] = [moving[0] if moving else None, moving[-1] if moving else None]
    out["beyond limits"] = error(m.set, 50.0)
    settled(m)
    out["move back"] = error(lambda: m.move(-0.5, wait=True).success)

    status = move(m, 8.0)
    time.sleep(0.3)
    m.stop()
    try:
        status.wait(5)
        out["stopped"] = ["finished", status.success]
    except Exception as exc:  # noqa: BLE001
        out["stopped"] = [type(exc).__name__, status.done, status.success]
    wait_for(lambda: not m.moving)
    out["stopped at"] = 0.0 < m.position < 8.0
    move(m, 0.0).wait(10)
    out["repr"] = repr(m).replace(MOTOR, "M")

    # Into a limit switch: the move ends short, with the switch and the alarm reported.
    m2 = EpicsMotor(SIM + "m2", name="m2")
    m2.wait_for_connection(timeout=CONNECT_TIMEOUT)
    move(m2, 0.0).wait(10)
    status = move(m2, 3.0)
    try:
        status.wait(10)
        out["hard limit"] = ["finished", status.success]
    except Exception as exc:  # noqa: BLE001
        out["hard limit"] = [type(exc).__name__, status.done, status.success]
    wait_for(lambda: not m2.moving)
    out["at switch"] = [m2.position, m2.high_limit_switch.get(), m2.low_limit_switch.get(),
                        str(m2.user_readback.alarm_status),
                        str(m2.user_readback.alarm_severity), plain(m2.read())]
    move(m2, 0.0).wait(10)
    out["back from switch"] = [m2.position, m2.high_limit_switch.get(),
                               str(m2.user_readback.alarm_severity)]
    return out


def lifecycle() -> dict:
    """Destroy and re-create a signal; a server restart as a signal sees it."""
    out = {}
    sig = EpicsSignal(pv("oph:slow:done"), name="done")  # no other signal uses it
    sig.wait_for_connection(timeout=CONNECT_TIMEOUT)
    # ophyd fetches metadata in a task per connection callback (two for an EpicsSignal);
    # destroying the signal while one runs makes it log an exception, on either library.
    time.sleep(0.3)
    first = sig._read_pv
    sig.destroy()
    out["destroyed"] = [first.chid is None, first.context is None,
                        any(p is first for p in epics.pv._PVcache_.values())]
    again = EpicsSignal(pv("oph:slow:done"), name="done")
    again.wait_for_connection(timeout=CONNECT_TIMEOUT)
    out["recreated"] = [again._read_pv is not first, plain(again.get()),
                        plain(again.read())]

    ask("write", "sim", 1.5)
    sim = EpicsSignal(SIM + "sim", name="sim", auto_monitor=True)
    sim.wait_for_connection(timeout=CONNECT_TIMEOUT)
    states, values = [], []
    sim.subscribe(lambda connected=None, **kw: states.append(connected),
                  event_type=sim.SUB_META, run=True)
    sim.subscribe(lambda value=None, **kw: values.append(value), run=True)
    wait_for(lambda: states and values)
    ask("write", "sim", 2.5)
    wait_for(lambda: values[-1] == 2.5)
    ask("restart")
    out["lost"] = wait_for(lambda: False in states, timeout=5)
    out["back"] = wait_for(lambda: states[-1] is True, timeout=10)
    ask("write", "sim", 3.5)
    wait_for(lambda: values[-1] == 3.5)
    # Repeated states are fine (metadata updates); the transitions must be these.
    out["connection states"] = [s for i, s in enumerate(states)
                                if i == 0 or s != states[i - 1]]
    out["values"] = [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]
    out["read after"] = plain(sim.read())
    status = sim.set(4.5)
    status.wait(5)
    out["set after"] = [status.success, plain(sim.get())]
    return out


def bluesky_docs() -> dict:
    from bluesky import RunEngine
    from bluesky.plans import count, rel_scan, scan

    RE = RunEngine({})
    RE.md.clear()
    stage = Stage(PREFIX, name="stage")
    m = EpicsMotor(MOTOR, name="m")
    det = EpicsSignalRO(pv("oph:det"), name="det")
    x = EpicsSignal(pv("oph:x"), name="x")
    wave = EpicsSignalRO(pv("oph:wave"), name="wave")
    text = EpicsSignalRO(pv("oph:text"), name="text", string=True)
    for dev in (stage, m, det, x, wave, text):
        dev.wait_for_connection(timeout=CONNECT_TIMEOUT)
    move(m, 0.0).wait(10)
    x.set(0.0).wait(5)

    runs = {}

    def collect(key):
        docs = []
        runs[key] = docs

        def on_doc(name, doc):
            docs.append((name, doc))
        return on_doc

    RE(count([det, stage, wave, text], num=3), collect("count"))
    RE(scan([det], x, -2, 2, 5), collect("scan signal"))
    RE(scan([det, stage], m, 0, 1, 3), collect("scan motor"))
    move(m, 0.5).wait(10)
    RE(rel_scan([det, m], m, -0.5, 0.5, 3), collect("rel_scan motor"))
    x.set(1.0).wait(5)
    RE(rel_scan([det], stage.x, -1, 1, 3), collect("rel_scan device"))
    final = {"motor": m.position, "x": x.get()}
    return {"runs": {key: summarize(docs) for key, docs in runs.items()}, "final": final}


def summarize(docs) -> dict:
    """The documents of one run without uids and times: what must agree."""
    out = {"names": [name for name, _ in docs], "events": [], "descriptors": []}
    for name, doc in docs:
        if name == "start":
            out["start"] = {key: plain(val) for key, val in doc.items()
                            if key not in ("uid", "time", "scan_id", "versions")}
        elif name == "descriptor":
            out["descriptors"].append({
                "name": doc["name"],
                "data_keys": plain(doc["data_keys"]),
                "object_keys": plain(doc["object_keys"]),
                "hints": plain(doc.get("hints")),
                "configuration": {
                    obj: {"data": plain(conf["data"]),
                          "timestamps": {k: stamp(v) for k, v in conf["timestamps"].items()},
                          "data_keys": plain(conf["data_keys"])}
                    for obj, conf in doc["configuration"].items()},
            })
        elif name == "event":
            out["events"].append({
                "seq_num": doc["seq_num"], "data": plain(doc["data"]),
                "timestamps": {k: stamp(v) for k, v in doc["timestamps"].items()},
                "filled": doc.get("filled"),
            })
        elif name == "stop":
            out["stop"] = {"exit_status": doc["exit_status"], "reason": doc["reason"],
                           "num_events": doc["num_events"]}
    return out


SECTION_FUNCTIONS = {"signals": signals, "device": device, "motor": motor,
                     "lifecycle": lifecycle, "bluesky": bluesky_docs}

if __name__ == "__main__":
    import epics

    reset()
    result = {"epics": epics.__name__, "threads_before": threading.active_count()}
    for section in SECTIONS:
        result[section] = SECTION_FUNCTIONS[section]()
    reset()
    print(json.dumps(result))
