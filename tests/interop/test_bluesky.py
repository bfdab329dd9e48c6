"""A bluesky RunEngine over ophyd devices on epics_compat emits the documents it emits
on pyepics (libca).

tests/ophyd_script.py (section ``bluesky``) runs ``count``, ``scan`` and ``rel_scan``
over an EpicsSignal, a Device of Components (softIoc records ``oph:*``; ``oph:det`` is
the square of ``oph:x``) and an EpicsMotor on the simulated motor record, once per
library in a fresh process. Documents are compared without uids and times: start
documents (plan name, arguments, motors, hints), descriptors (data keys with dtype,
shape, units, precision, limits; configuration), events (data, plausible timestamps)
and stop documents. Ctrl-C during a scan pauses the RunEngine and stops the motor, as it
does on pyepics.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ophyd_run import LIBS, ROOT, run_sections, sim_server
from ioc import close_pipes

pytest.importorskip("ophyd")
pytest.importorskip("bluesky")
pytestmark = [pytest.mark.timeout(120), pytest.mark.differential]

SIM = f"bsk{os.getpid()}:"
RUNS = ("count", "scan signal", "scan motor", "rel_scan motor", "rel_scan device")


@pytest.fixture(scope="module")
def docs(softioc):
    with sim_server(SIM) as server:
        return {lib: run_sections(lib, ["bluesky"], softioc, server, SIM)["result"]["bluesky"]
                for lib in LIBS}


@pytest.mark.parametrize("run", RUNS)
def test_documents_match_pyepics(docs, run):
    theirs, ours = docs["pyepics"]["runs"][run], docs["epics_compat"]["runs"][run]
    assert ours["names"] == theirs["names"]
    assert ours["start"] == theirs["start"]
    assert ours["descriptors"] == theirs["descriptors"]
    assert ours["events"] == theirs["events"]
    assert ours["stop"] == theirs["stop"]
    assert ours["stop"]["exit_status"] == "success"
    assert "implausible" not in str(ours)


def test_what_the_runs_recorded(docs):
    runs = docs["epics_compat"]["runs"]
    scan = runs["scan signal"]
    assert [event["data"]["x"] for event in scan["events"]] == [-2.0, -1.0, 0.0, 1.0, 2.0]
    assert [event["data"]["det"] for event in scan["events"]] == [4.0, 1.0, 0.0, 1.0, 4.0]
    keys = scan["descriptors"][0]["data_keys"]
    assert keys["det"]["units"] == "cts" and keys["det"]["precision"] == 2
    assert keys["x"]["dtype"] == "number" and keys["x"]["shape"] == []

    motor = runs["scan motor"]
    assert [event["data"]["m"] for event in motor["events"]] == [0.0, 0.5, 1.0]
    assert motor["descriptors"][0]["configuration"]["m"]["data"]["m_velocity"] == 5.0
    rel = runs["rel_scan motor"]
    assert [event["data"]["m"] for event in rel["events"]] == [0.0, 0.5, 1.0]
    device = runs["rel_scan device"]
    assert [event["data"]["stage_x"] for event in device["events"]] == [0.0, 1.0, 2.0]
    count = runs["count"]
    assert len(count["events"]) == 3
    assert count["events"][0]["data"]["wave"] == {"ndarray": "float64",
                                                  "values": [0.5, 1.5, 2.5]}
    assert count["events"][0]["data"]["text"] == "hello ophyd"
    assert count["descriptors"][0]["data_keys"]["wave"]["shape"] == [3]
    assert count["descriptors"][0]["data_keys"]["wave"]["dtype"] == "array"
    # rel_scan puts the motors back where they started.
    assert docs["epics_compat"]["final"] == docs["pyepics"]["final"] == {"motor": 0.5,
                                                                        "x": 1.0}


# --- Ctrl-C during a scan -------------------------------------------------------------------

#: A scan over a slow motor; the test sends SIGINT twice (bluesky's "hard pause"): the
#: RunEngine must pause with the motor stopped short of its target, then abort cleanly.
CTRL_C_SCRIPT = r"""
import json, sys, time
if sys.argv[1] == "epics_compat":
    import epics_compat
    epics_compat.install_as_epics()
import ophyd
ophyd.set_cl("pyepics")
from ophyd import EpicsMotor, EpicsSignalRO
from bluesky import RunEngine
from bluesky.plans import scan
from bluesky.utils import RunEngineInterrupted

RE = RunEngine({})
m = EpicsMotor(sys.argv[2] + "m", name="m")
det = EpicsSignalRO(sys.argv[2] + "det", name="det")
m.wait_for_connection(5)
det.wait_for_connection(5)
m.set(0).wait(10)
names = []
print("ready", flush=True)
out = {}
try:
    RE(scan([det], m, 0, 20, 3), lambda name, doc: names.append(name))
    out["ended"] = "normally"
except RunEngineInterrupted:
    out["ended"] = "interrupted"
out["state"] = RE.state
time.sleep(0.3)
out["moving"] = m.moving
out["stopped short"] = 0 < m.position < 20
RE.abort()
out["after abort"] = [RE.state, names, det.get()]
print(json.dumps(out), flush=True)
"""


def test_ctrl_c_pauses_a_scan_as_with_pyepics():
    srv = pytest.importorskip("epics_compat.server")
    prefix = {lib: f"{SIM}{lib}:" for lib in LIBS}
    pvs = []
    for lib in LIBS:
        pvs += [srv.Motor(prefix[lib] + "m", velocity=1.0, high_limit=50, low_limit=-50),
                srv.PV(prefix[lib] + "det", "double", 1.0)]
    with srv.Server(pvs, beacon_address=None) as server:
        env = {**os.environ, **server.client_env,
               "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        procs = {lib: subprocess.Popen([sys.executable, "-c", CTRL_C_SCRIPT, lib, prefix[lib]],
                                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True)
                 for lib in LIBS}
        results = {}
        try:
            for proc in procs.values():
                assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
            time.sleep(1.5)  # the motor is on its way to 10 (1 mm/s)
            for proc in procs.values():
                proc.send_signal(signal.SIGINT)
            time.sleep(0.2)
            for proc in procs.values():
                proc.send_signal(signal.SIGINT)
            for lib, proc in procs.items():
                out, err = proc.communicate(timeout=60)
                assert proc.returncode == 0, err
                assert "A 'hard pause' has been requested." in out
                results[lib] = json.loads(out.splitlines()[-1])
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                close_pipes(proc)
    assert results["epics_compat"] == results["pyepics"]
    assert results["epics_compat"] == {
        "ended": "interrupted", "state": "paused", "moving": False, "stopped short": True,
        "after abort": ["idle", ["start", "descriptor", "event", "stop"], 1.0]}
