"""epics_compat.Motor against the simulated motor record of epics_compat.server,
compared with pyepics' Motor on the same kind of motor.

The server runs in this process on a port of its own; the client runs in a
subprocess with EPICS_CA_ADDR_LIST pointing at it. The same script runs with
``import epics`` as pyepics and as epics_compat (install_as_epics), concurrently, each
on motors of its own, and both must observe the same: move with wait and its
duration, readbacks during the move, soft limits (checked by Motor and by the record),
a limit switch, stop, set_position, tweak, dial and raw coordinates, the long field
names, callbacks, get_info and the exception for what is not a motor.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pyepics_api import IMPORTS

srv = pytest.importorskip("epics_compat.server")
pytestmark = pytest.mark.timeout(90)

P = f"mot{os.getpid()}:"
VELOCITY = 5.0
LIBS = ("pyepics", "epics_compat")
NAMES = ("move", "limits", "hard", "stop", "set", "tweak", "coords", "cb")


def motor_name(lib: str, name: str) -> str:
    return f"{P}{lib}:{name}"


@pytest.fixture(scope="module")
def server():
    motors = []
    for lib in LIBS:
        for name in NAMES:
            hard = (-1.0, 1.5) if name == "hard" else None
            motors.append(srv.Motor(motor_name(lib, name), velocity=VELOCITY,
                                    high_limit=10, low_limit=-10, hard_limits=hard))
    plain = [srv.PV(P + "notmotor", "double", 1.0)]
    with srv.Server(motors + plain, beacon_address=None) as running:
        yield running


SCRIPT = r"""
import json, sys, time
M = sys.argv[1]            # motor name prefix of this library
NOT_MOTOR = sys.argv[2]
out = {}

def wait_for(predicate, timeout=5.0):
    end = time.time() + timeout
    while not predicate() and time.time() < end:
        time.sleep(0.01)
    return predicate()

m = epics.Motor(M + "move")
out["repr"] = repr(m).replace(M, "M")
out["fields"] = [m.RTYP, m.DESC, m.EGU, m.PREC, m.HLM, m.LLM, m.VELO, m.DMOV]
out["long names"] = [m.drive, m.readback, m.slew_speed, m.high_limit, m.low_limit,
                     m.done_moving, m.units, m.description, m.precision]
out["disabled"] = m.get_pv("disabled").pvname.replace(M, "M")
readbacks = []
rbv = epics.PV(M + "move.RBV", callback=lambda value=None, **kw: readbacks.append(value))
rbv.wait_for_connection(5)
wait_for(lambda: readbacks)
start = time.time()
out["move wait"] = m.move(2.0, wait=True)
out["took"] = round(time.time() - start, 1)
out["after move"] = [m.get_position(), m.get_position(readback=True), m.DMOV, m.MOVN]
wait_for(lambda: readbacks[-1] == 2.0)
out["readbacks rose"] = len(set(readbacks)) >= 4 and readbacks == sorted(readbacks)
out["relative"] = m.move(-0.5, relative=True, wait=True)
out["position"] = m.get_position(readback=True)
out["nonfloat"] = m.move(None)
out["within"] = [m.within_limits(5), m.within_limits(50), m.within_limits(-10, dial=True)]
out["steps"] = m.make_step_list(maxstep=1)
out["dir"] = sorted(set(dir(m)) & {"drive", "readback", "VAL", "RBV", "move", "slew_speed"})
out["info"] = m.get_info()

lim = epics.Motor(M + "limits")
out["soft checked"] = lim.move(20)
out["soft ignored"] = lim.move(20, ignore_limits=True, wait=True)
out["lvio"] = [lim.LVIO, lim.VAL, lim.RBV]
try:
    lim.check_limits()
    out["check_limits"] = None
except Exception as exc:
    out["check_limits"] = [type(exc).__name__, str(exc)]
out["back in"] = lim.move(1.0, wait=True)
lim.check_limits()

hard = epics.Motor(M + "hard")
out["hard"] = hard.move(3.0, wait=True)
out["hard state"] = [hard.HLS, hard.LLS, hard.RBV, hard.VAL]
try:
    hard.check_limits()
except Exception as exc:
    out["hard check"] = [type(exc).__name__, str(exc)]

st = epics.Motor(M + "stop")
out["no wait"] = st.move(8.0)
time.sleep(0.4)
st.stop()
wait_for(lambda: st.DMOV == 1)
time.sleep(0.1)
out["stopped"] = [st.DMOV, st.MOVN, 0.5 < st.RBV < 8.0, st.VAL == st.RBV]
out["confirm"] = st.move(0.0, confirm_move=True)
st.move(0.0, wait=True)

se = epics.Motor(M + "set")
se.set_position(5.0)
wait_for(lambda: se.RBV == 5.0)
out["set"] = [se.RBV, se.VAL, se.DRBV, se.OFF, se.SET, se.HLM]
se.set_position(1.0, dial=True)
wait_for(lambda: se.DRBV == 1.0)
out["set dial"] = [se.get_position(dial=True), se.get_position(dial=True, readback=True)]

tw = epics.Motor(M + "tweak")
tw.tweak_val = 0.5
out["tweak"] = tw.tweak("forward", wait=True)
out["tweak back"] = tw.tweak("reverse", wait=True)
out["tweak pos"] = tw.get_position(readback=True)

co = epics.Motor(M + "coords")
co.put("OFF", 1.0, wait=True)
co.put("DIR", 1, wait=True)
out["coords"] = co.move(-1.0, wait=True)
out["coords pos"] = [co.get_position(dial=True, readback=True),
                     co.get_position(raw=True, readback=True),
                     co.get_position(step=True), co.HLM, co.LLM]
out["dial move"] = co.move(1.0, dial=True, wait=True)
out["raw move"] = co.move(500, raw=True, wait=True)
out["after raw"] = [co.get_position(dial=True, readback=True), co.RRBV]

cb = epics.Motor(M + "cb")
seen = []
cb.set_callback("RBV", lambda value=None, motor_field=None, **kw: seen.append(motor_field))
cb.move(0.5, wait=True)
wait_for(lambda: len(seen) >= 2)
out["callback field"] = sorted(set(seen))
cb.clear_callback("RBV")
cb.slew_speed = 2.5  # a put without wait
out["velo"] = wait_for(lambda: cb.VELO == 2.5) and cb.slew_speed

try:
    epics.Motor(NOT_MOTOR, timeout=0.5)
except Exception as exc:
    out["not motor"] = [type(exc).__name__, str(exc)]
try:
    epics.Motor()
except Exception as exc:
    out["no name"] = [type(exc).__name__, str(exc)]
print(json.dumps(out))
"""


def test_motor_scenario_agrees_with_pyepics(server):
    env = {**os.environ, **server.client_env}
    procs = {}
    for lib in LIBS:
        procs[lib] = subprocess.Popen(
            [sys.executable, "-c", IMPORTS[lib] + SCRIPT, motor_name(lib, ""),
             P + "notmotor"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
    results = {}
    for lib, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=80)
        assert proc.returncode == 0, f"{lib} script failed:\n{stderr}"
        results[lib] = json.loads(stdout.splitlines()[-1])
    theirs, ours = results["pyepics"], results["epics_compat"]
    # A deliberate difference: dir() lists the long field names and the Motor methods.
    assert theirs.pop("dir") == ["RBV", "VAL"]  # pyepics lists Device methods only
    assert ours.pop("dir") == ["RBV", "VAL", "drive", "move", "readback", "slew_speed"]
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        assert ours[key] == theirs[key], key

    # What both saw, spelled out.
    assert ours["fields"] == ["motor", "simulated motor", "mm", 3, 10.0, -10.0, VELOCITY, 1]
    assert ours["move wait"] == 0 and ours["took"] == round(2.0 / VELOCITY, 1)
    assert ours["after move"] == [2.0, 2.0, 1, 0] and ours["readbacks rose"]
    assert ours["relative"] == 0 and ours["position"] == 1.5
    assert ours["nonfloat"] == -13
    assert ours["soft checked"] == -12 and ours["soft ignored"] == -4
    assert ours["check_limits"] == ["MotorLimitException", "Soft limit violation"]
    assert ours["hard"] == -3 and ours["hard state"] == [1, 0, 1.5, 1.5]
    assert ours["hard check"] == ["MotorLimitException", "High hard limit violation"]
    assert ours["no wait"] == 1 and ours["stopped"] == [1, 0, True, True]  # MOVN seen
    assert ours["set"] == [5.0, 5.0, 0.0, 5.0, 0, 15.0]
    assert ours["tweak"] == 0 and ours["tweak pos"] == 0.0
    assert ours["coords"] == 0 and ours["coords pos"][:2] == [2.0, 2000]
    assert ours["callback field"] == ["RBV"] and ours["velo"] == 2.5
    assert ours["not motor"][0] == "MotorException"


def test_a_softioc_record_is_not_a_motor(softioc):
    import epics_compat as epics
    from epics_compat.motor import MotorException
    with pytest.raises(MotorException, match=f"{softioc.pv('ai')} is not an Epics Motor"):
        epics.Motor(softioc.pv("ai") + ".VAL", timeout=2)
    with pytest.raises(MotorException, match="must supply motor name"):
        epics.Motor()
