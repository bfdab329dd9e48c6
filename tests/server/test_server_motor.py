"""The simulated motor record, driven by pyepics' ``epics.Motor`` (libca).

Moves with wait (completion when the move ends), readback monitors during motion,
soft limits (LVIO), limit switches (HLS), stop, set position, tweak and coordinates.
"""
from __future__ import annotations

import json
import os
import time

import pytest

from pyserver import RawClient, run_pyepics, server_package

srv = server_package()
pytestmark = pytest.mark.timeout(60)
P = f"mt{os.getpid()}:"
VELOCITY = 5.0


@pytest.fixture(scope="module")
def server():
    motors = [srv.Motor(P + name, velocity=VELOCITY, high_limit=10, low_limit=-10)
              for name in ("move", "limits", "stop", "set", "tweak", "coords")]
    motors.append(srv.Motor(P + "hard", velocity=VELOCITY, high_limit=10, low_limit=-10,
                            hard_limits=(-1.0, 1.5)))
    with srv.Server(motors, beacon_address=None) as running:
        yield running


def pyepics(server, body: str) -> dict:
    """Run ``body`` with ``m = epics.Motor(...)`` available; it fills the dict ``out``."""
    code = ("import json, time, epics\nout = {}\n" + body
            + "\nprint(json.dumps(out))\n")
    return json.loads(run_pyepics(server.client_env, code).splitlines()[-1])


def test_motor_is_a_motor_record(server):
    out = pyepics(server, f"""
m = epics.Motor({P + 'move'!r})
out.update(rtyp=m.RTYP, desc=m.DESC, egu=m.EGU, prec=m.PREC, hlm=m.HLM, llm=m.LLM,
           velo=m.VELO, dmov=m.DMOV, ctrl=epics.PV({P + 'move.VAL'!r}).get_ctrlvars())
""")
    assert (out["rtyp"], out["egu"], out["prec"]) == ("motor", "mm", 3)
    assert (out["hlm"], out["llm"], out["velo"], out["dmov"]) == (10, -10, VELOCITY, 1)
    assert (out["ctrl"]["upper_ctrl_limit"], out["ctrl"]["lower_ctrl_limit"]) == (10, -10)
    assert out["ctrl"]["precision"] == 3 and out["ctrl"]["units"] == "mm"


def test_move_with_wait_completes_when_the_move_ends(server):
    out = pyepics(server, f"""
m = epics.Motor({P + 'move'!r})
readbacks, dmov = [], []
epics.PV({P + 'move.RBV'!r}, callback=lambda value, **kw: readbacks.append(value))
epics.PV({P + 'move.DMOV'!r}, callback=lambda value, **kw: dmov.append(value))
time.sleep(0.3)
start = time.time()
out["result"] = m.move(2.0, wait=True)
out["took"] = time.time() - start
out["rbv"], out["dmov"], out["movn"] = m.RBV, m.DMOV, m.MOVN
time.sleep(0.2)
out["readbacks"], out["dmov_seen"] = readbacks, dmov
""")
    assert out["result"] == 0
    assert 2.0 / VELOCITY * 0.9 <= out["took"] < 2.0 / VELOCITY + 1.0
    assert (out["rbv"], out["dmov"], out["movn"]) == (2.0, 1, 0)
    assert len(set(out["readbacks"])) >= 4  # the readback moved in steps
    assert out["readbacks"] == sorted(out["readbacks"])
    assert out["dmov_seen"] == [1, 0, 1]


def test_soft_limits(server):
    out = pyepics(server, f"""
m = epics.Motor({P + 'limits'!r})
out["checked"] = m.move(20)  # pyepics checks HLM itself
out["ignored"] = m.move(20, ignore_limits=True, wait=True)
out["lvio"], out["val"], out["rbv"] = m.LVIO, m.VAL, m.RBV
out["ok"] = m.move(-1.0, wait=True)
out["lvio after"] = m.LVIO
""")
    assert out["checked"] == -12
    assert out["ignored"] == -4  # the put completed, and LVIO says why nothing moved
    assert (out["lvio"], out["val"], out["rbv"]) == (1, 0.0, 0.0)
    assert (out["ok"], out["lvio after"]) == (0, 0)


def test_limit_switch_stops_the_move(server):
    out = pyepics(server, f"""
m = epics.Motor({P + 'hard'!r})
out["result"] = m.move(3.0, wait=True)
out["hls"], out["lls"], out["rbv"], out["val"] = m.HLS, m.LLS, m.RBV, m.VAL
""")
    assert out["result"] == -3
    assert (out["hls"], out["lls"], out["rbv"], out["val"]) == (1, 0, 1.5, 1.5)


def test_stop(server):
    out = pyepics(server, f"""
m = epics.Motor({P + 'stop'!r})
m.move(8.0)
time.sleep(0.4)
m.stop()
time.sleep(0.2)
out["dmov"], out["movn"], out["rbv"], out["val"] = m.DMOV, m.MOVN, m.RBV, m.VAL
time.sleep(0.3)
out["rbv later"] = m.RBV
""")
    assert (out["dmov"], out["movn"]) == (1, 0)
    assert 0.5 < out["rbv"] < 8.0
    assert out["val"] == out["rbv"] == out["rbv later"]


def test_set_position_does_not_move(server):
    out = pyepics(server, f"""
m = epics.Motor({P + 'set'!r})
dmov = []
epics.PV({P + 'set.DMOV'!r}, callback=lambda value, **kw: dmov.append(value))
time.sleep(0.2)
m.set_position(5.0)
time.sleep(0.2)
out.update(rbv=m.RBV, val=m.VAL, drbv=m.DRBV, off=m.OFF, set=m.SET, hlm=m.HLM, dmov=dmov)
""")
    assert (out["rbv"], out["val"], out["drbv"], out["off"]) == (5.0, 5.0, 0.0, 5.0)
    assert out["set"] == 0 and out["hlm"] == 15.0
    assert out["dmov"] == [1]  # never moved


def test_tweak_and_coordinates(server):
    out = pyepics(server, f"""
m = epics.Motor({P + 'tweak'!r})
m.put("TWV", 0.5, wait=True)
out["tweak"] = m.tweak("forward", wait=True)
out["after tweak"] = m.RBV
c = epics.Motor({P + 'coords'!r})
c.put("OFF", 1.0, wait=True)
c.put("DIR", 1, wait=True)  # user = -dial + 1
out["move"] = c.move(-1.0, wait=True)
out["dial"] = c.get_position(dial=True, readback=True)
out["raw"] = c.get_position(raw=True, readback=True)
out["hlm"], out["llm"] = c.HLM, c.LLM
""")
    assert (out["tweak"], out["after tweak"]) == (0, 0.5)
    assert (out["move"], out["dial"], out["raw"]) == (0, 2.0, 2000)
    assert (out["hlm"], out["llm"]) == (11.0, -9.0)


def test_zero_length_move_pulses_dmov(server):
    """ophyd's EpicsMotor waits for DMOV to go 0 and back to 1, even for no motion."""
    from caproto_core import EventAddResponse, WriteNotifyResponse
    with RawClient(server.port) as client:
        dmov = client.connect(P + "move.DMOV")
        client.send(dmov.subscribe("native"))
        assert list(client.expect(EventAddResponse).data) == [1]
        val = client.connect(P + "move.VAL")
        current = server[P + "move.RBV"].value
        client.send(val.write([current], notify=True))
        got = client.quiet(0.5)
        updates = [list(m.data)[0] for m in got if isinstance(m, EventAddResponse)]
        assert updates == [0, 1]
        assert any(isinstance(m, WriteNotifyResponse) for m in got)


def test_python_side_of_the_motor(server):
    motor = next(r for r in server.records if r.name == P + "stop")
    assert not motor.moving
    start = motor.position
    server[P + "stop.VAL"].put([start + 1.0], lambda status=1: None)
    assert motor.moving
    time.sleep(0.15)
    motor.stop()
    assert not motor.moving and start < motor.position < start + 1.0


def wait_until(predicate, timeout=3.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def motor():
    """A fast motor of its own, driven from Python (puts as a client's would arrive)."""
    m = srv.Motor("py:m", velocity=20.0, high_limit=5, low_limit=-5)
    with srv.Server([m], beacon_address=None):
        yield m


def put(motor, field, value):
    done = []
    motor[field].put([value], lambda status=1: done.append(status))
    return done


def test_jog_runs_until_released(motor):
    jog = put(motor, "JOGF", 1)
    wait_until(lambda: motor.position > 1.0)
    assert motor.moving and not jog
    put(motor, "JOGF", 0)
    assert not motor.moving and jog == [1]
    assert motor.get("VAL") == motor.position < 5.0


def test_home_goes_to_dial_zero(motor):
    put(motor, "VAL", 2.0)
    wait_until(lambda: not motor.moving)
    home = put(motor, "HOMR", 1)
    wait_until(lambda: bool(home))
    assert motor.get("DRBV") == 0.0 and motor.get("HOMR") == 0
    assert int(motor.get("MSTA")) & srv.motor.MSTA_HOMED


def test_pause_and_go(motor):
    move = put(motor, "VAL", 4.0)
    wait_until(lambda: motor.position > 0.5)
    put(motor, "SPMG", srv.motor.PAUSE)
    paused_at = motor.position
    time.sleep(0.15)
    assert motor.position == paused_at and not move and motor.get("DMOV") == 0
    put(motor, "SPMG", srv.motor.GO)
    wait_until(lambda: bool(move))
    assert motor.position == 4.0 and motor.get("DMOV") == 1


def test_read_only_fields_refuse_puts(motor):
    with pytest.raises(ValueError):
        put(motor, "RBV", 3.0)
