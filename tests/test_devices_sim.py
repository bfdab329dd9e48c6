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
    # Counts are rate * time: the clock at 1e7 Hz, the others at 500, 1000, 1500 Hz.
    assert out["after"] == [0, 0.5, [5000000, 500, 1000, 1500]]
    assert out["calc"] == [0.0, 3e6 / 1000 + 300, 0.0, 0.0] and out["took 2"] == 0.3
    assert out["stopped"] == [True, True, 0, True] and out["cont"] == "AutoCount"
    assert out["immutable"] == "Scaler has no attribute nosuch"
