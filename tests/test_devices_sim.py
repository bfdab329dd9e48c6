"""epics_compat.devices against the simulated synApps and areaDetector records of
``epics_compat.server.records``, compared with pyepics' ``epics.devices``.

The server runs in this process (tests/devices_server.py) with one set of records per
library; each scenario script runs in two subprocesses at once, one importing pyepics
as ``epics`` and one epics_compat (install_as_epics), and both must print the same
results: values read, return values of the device methods, and timings where a method
waits for the record (rounded so that load cannot change them).
"""
from __future__ import annotations

import os

import pytest

from devices_server import LIBS, run_scenario, serve

pytestmark = [pytest.mark.differential, pytest.mark.timeout(120)]

P = f"dv{os.getpid()}:"
PREFIXES = {lib: f"{P}{lib}:" for lib in LIBS}

HEADER = r"""
import json, sys, time
import epics.devices
P = sys.argv[1]
out = {}

def wait_for(predicate, timeout=5.0):
    end = time.time() + timeout
    while not predicate() and time.time() < end:
        time.sleep(0.01)
    return predicate()

def took(start):
    return round(time.time() - start, 1)
"""


@pytest.fixture(scope="module")
def server():
    with serve(PREFIXES.values()) as running:
        yield running


def agree(server, script: str, **kwargs) -> dict:
    """Run a scenario with both libraries; they must agree. Returns the results."""
    results = run_scenario(server, HEADER + script + "\nprint(json.dumps(out))\n",
                           PREFIXES, **kwargs)
    theirs, ours = results["pyepics"], results["epics_compat"]
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        assert ours[key] == theirs[key], key
    return ours


SCALER = r"""
from epics.devices import Scaler
s = Scaler(P + "scaler1", nchan=4)
out["names"] = s.getNames()
out["nonpvs"] = [s._nchan, list(s._chans)]
s.OneShotMode()
s.CountTime(0.5)
wait_for(lambda: s.TP == 0.5)
start = time.time()
out["count wait"] = s.Count(wait=True)
out["took"] = took(start)
out["after"] = [s.CNT, s.T, s.Read()]
s.setCalc(2, "A/1000 + B")
s.EnableCalcs()
wait_for(lambda: s.get("calc_enable") == 1)
start = time.time()
s.Count(ctime=0.3, wait=True)
out["took 2"] = took(start)
out["calc"] = s.Read(use_calc=True)
out["expr"] = s.get("expr2")
start = time.time()
out["no wait"] = s.Count(1.0)
counting = [wait_for(lambda: s.CNT == 1)]
time.sleep(0.3)
counting.append(wait_for(lambda: 0 < s.T < 1.0))
s.put("CNT", 0, wait=True)
out["stopped"] = counting + [s.CNT, took(start) < 0.9]
s.AutoCountMode()
out["cont"] = wait_for(lambda: s.CONT == 1) and s.get("CONT", as_string=True)
s.OneShotMode()
try:
    s.nosuch
except AttributeError as exc:
    out["immutable"] = str(exc)
"""


def test_scaler(server):
    out = agree(server, SCALER)
    assert out["names"] == ["clock", "I0", "I1", ""]
    assert out["count wait"] is None and out["took"] == 0.5
    # Counts are rate * time: the clock at 1e7 Hz, the others at 1000, 2000, 3000 Hz.
    assert out["after"] == [0, 0.5, [5000000, 500, 1000, 1500]]
    assert out["calc"] == [0.0, 3e6 / 1000 + 300, 0.0, 0.0] and out["took 2"] == 0.3
    assert out["stopped"] == [True, True, 0, True] and out["cont"] == "AutoCount"
    assert out["immutable"] == "Scaler has no attribute nosuch"


SCAN = r"""
from epics.devices import Scan
from epics.devices.scan import ScanException
epics.caput(P + "scaler1.TP", 0.1, wait=True)
s = Scan(P + "scan1")
start = time.time()
s.reset()
out["reset fast"] = took(start) < 10
out["put npts"] = s.put("NPTS", 5, wait=True)
out["add positioner"] = s.add_positioner(P + "m1.VAL", start=0, stop=1.0)
out["readback pv"] = s.get("R1PV").replace(P, "P")
out["step"] = [s.P1SI, s.step, s.npts, s.get("P1SM", as_string=True)]
out["add detector"] = [s.add_detector(P + "scaler1.S2"), s.add_detector(P + "scaler1.S3")]
s.clear_detector(2)
out["add trigger"] = s.add_trigger(P + "scaler1.CNT", value=1)
out["trigger value"] = s.get("T1CD")
s.positioner_delay(0.02)
s.detector_delay(0.01)
start = time.time()
out["run"] = s.run(wait=True)
out["run took"] = 0.5 < time.time() - start < 10
out["after run"] = [s.CPT, s.current_point, s.EXSC, s.SMSG, s.get("D01PV").replace(P, "P")]
out["positions"] = [round(x, 6) for x in epics.caget(P + "scan1.P1RA")]
out["data"] = [float(x) for x in epics.caget(P + "scan1.D01DA")]
out["motor"] = epics.caget(P + "m1.RBV")

# A relative table scan of a second positioner, going back where it was afterwards.
epics.caput(P + "m2.VAL", 2.0, wait=True)
s.after_scan(2)
out["add table"] = s.add_positioner(P + "m2.VAL", mode="table", absolute=False,
                                    array=[0.0, 0.5, 1.0, 0.5, 0.0])
out["table mode"] = [s.get("P2SM", as_string=True), s.get("P2AR", as_string=True)]
s.set_positioner(1, start=1.0, stop=2.0)
s.run(wait=True)
out["second"] = [[round(x, 6) for x in epics.caget(P + "scan1.P1RA")],
                 [round(x, 6) for x in epics.caget(P + "scan1.P2RA")],
                 epics.caget(P + "m1.RBV"), epics.caget(P + "m2.RBV")]
out["third positioner"] = s.add_positioner(P + "m2.VAL")
out["fourth positioner"] = s.add_positioner(P + "m1.VAL")
try:
    s.add_positioner(P + "m1.VAL")
except ScanException as exc:
    out["fifth positioner"] = str(exc)
try:
    s.set_positioner(None)
except ScanException as exc:
    out["no index"] = [str(exc), exc.msg]

# No wait: the scan runs while the caller goes on; EXSC falls back when done.
s.reset()
s.put("NPTS", 3, wait=True)
s.add_positioner(P + "m1.VAL", start=0, stop=0.2)
start = time.time()
out["run no wait"] = s.run()
out["running"] = wait_for(lambda: s.EXSC == 1, 2)
out["finished"] = wait_for(lambda: s.EXSC == 0, 10)
try:
    Scan(P + "scaler1")
except ScanException as exc:
    out["not a scan"] = str(exc).replace(P, "P")
"""


def test_scan(server):
    out = agree(server, SCAN)
    assert out["add positioner"] == 1 and out["add detector"] == [1, 2]
    assert out["step"] == [0.25, 0.25, 5, "LINEAR"] and out["readback pv"] == "Pm1.RBV"
    assert out["run"] is None and out["run took"]
    assert out["after run"] == [5, 5, 0, "SCAN Complete", "Pscaler1.S2"]
    assert out["positions"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert out["data"] == [100.0] * 5  # S2 counts 1000 per second for TP = 0.1 s
    assert out["second"] == [[1.0, 1.25, 1.5, 1.75, 2.0], [2.0, 2.5, 3.0, 2.5, 2.0], 1.0,
                             2.0]  # PRIOR POS: back to where they were
    assert out["fifth positioner"] == "4 Positioners already defined."
    assert out["no index"] == ["must give positioner index"] * 2
    assert out["running"] and out["finished"]
    assert out["not a scan"] == "Pscaler1 is not an Epics Scan"
