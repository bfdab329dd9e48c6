"""Writing IOCs with epics_compat.server: the example IOCs served as programs, read and
written through pyepics (libca) and epics_compat alike, and the Group API's handlers,
hooks and alarms."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading

import pytest

from epics_compat.server import Server
from epics_compat.server.group import Group, periodic, pv, startup, subgroup
from ioc import ExampleIoc
from pyepics_api import run_script

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def simple():
    ioc = ExampleIoc("simple", f"simple{os.getpid()}:")
    yield ioc
    listed = ioc.stop()
    assert f"{ioc.prefix}A" in listed.split() and f"{ioc.prefix}B.DESC" in listed.split()


SCENARIO = """
import json, time
P = {prefix!r}
out = {{"A": epics.caget(P + "A"), "B": epics.caget(P + "B")}}
out["types"] = [type(out["A"]).__name__, type(out["B"]).__name__]
out["fields"] = [epics.caget(P + "A.DESC"), epics.caget(P + "B.RTYP"),
                 epics.caget(P + "B.PREC"), epics.caget(P + "A.NAME")]
seen = []
monitor = epics.PV(P + "A", callback=lambda value=None, **kw: seen.append(value))
monitor.wait_for_connection(timeout=5)
time.sleep(0.3)
out["put_wait"] = epics.caput(P + "A", 7, wait=True)
out["put"] = epics.caput(P + "B", 3.5)
time.sleep(0.3)
out["after"] = [epics.caget(P + "A", use_monitor=False), epics.caget(P + "B", use_monitor=False)]
out["monitor"] = list(seen)
ctrl = epics.PV(P + "B", form="ctrl")
ctrl.wait_for_connection(timeout=5)
out["ctrl"] = {{k: ctrl.get_ctrlvars()[k] for k in ("precision", "units")}}
epics.caput(P + "A", 1, wait=True)
epics.caput(P + "B", 2.0, wait=True)
print(json.dumps(out))
"""


def test_the_simple_example_as_pyepics_and_epics_compat_see_it(simple):
    results = {lib: json.loads(run_script(lib, SCENARIO.format(prefix=simple.prefix),
                                          simple.env).splitlines()[-1])
               for lib in ("pyepics", "epics_compat")}
    assert results["pyepics"] == results["epics_compat"]
    seen = results["epics_compat"]
    assert (seen["A"], seen["B"], seen["types"]) == (1, 2.0, ["int", "float"])
    assert seen["fields"] == ["an integer", "ao", 3, f"{simple.prefix}A"]
    assert seen["put_wait"] == seen["put"] == 1
    assert seen["after"] == [7, 3.5] and seen["monitor"][:2] == [1, 7]


def test_the_command_line_tools_on_the_simple_example(simple):
    """README's four lines: caget and caput of the example's PVs."""
    env = {**os.environ, **simple.env}
    got = subprocess.run([sys.executable, "-m", "epics_compat.caget", "-t",
                          f"{simple.prefix}A", f"{simple.prefix}B"],
                         env=env, capture_output=True, text=True, timeout=30)
    assert got.stdout.split() == ["1", "2"], got
    put = subprocess.run([sys.executable, "-m", "epics_compat.caput", "-t",
                          f"{simple.prefix}A", "5"], env=env, capture_output=True,
                         text=True, timeout=30)
    assert put.stdout.split() == ["5"], put
    subprocess.run([sys.executable, "-m", "epics_compat.caput", f"{simple.prefix}A", "1"],
                   env=env, capture_output=True, timeout=30, check=True)


# --- the Group API, in this process ---------------------------------------------------

class Lab(Group):
    setpoint = pv(1.0, units="mm", precision=2, drive_high=10, drive_low=-10)
    mode = pv("Off", enum_strs=["Off", "Slow", "Fast"])
    wave = pv([1.0, 2.0, 3.0], max_length=10)
    slow = pv(0)
    guarded = pv(0.0)
    reading = pv(0.0, read_only=True, high_alarm=5.0, alarm_on_limits=True)
    started = pv(0)

    @slow.on_put
    async def slow(self, value):
        await asyncio.sleep(0.5)  # a put with completion waits for this

    @guarded.on_put
    def guarded(self, value):
        if value > 5:
            raise ValueError("too big")
        return value * 2  # stored instead of what was written

    @startup
    def begin(self):
        self.started.write(1)


class Beamline(Group):
    lab = subgroup(Lab, "lab:")
    ticks = pv(0)

    @periodic(0.05)
    def tick(self):
        self.ticks.write(self.ticks.value + 1)


@pytest.fixture(scope="module")
def beamline():
    server = Server([Beamline(f"bl{os.getpid()}:")], port=0)
    with server:
        yield server


def test_group_handlers_hooks_and_alarms(beamline):
    """Through pyepics in a process of its own (the Group runs in this one)."""
    prefix = beamline.records[0].prefix
    script = f"""
import json, time
P = {prefix!r} + "lab:"
out = {{}}
t = time.monotonic()
out["slow"] = epics.caput(P + "slow", 3, wait=True)
out["slow_took"] = time.monotonic() - t
t = time.monotonic()
epics.caput(P + "slow", 4)
out["nowait_took"] = time.monotonic() - t
t = time.monotonic()  # the slow handler is busy now: other PVs must not wait for it
epics.caput(P + "setpoint", 2.0, wait=True)
out["other_pv_took"] = time.monotonic() - t
out["guarded_ok"] = [epics.caput(P + "guarded", 2, wait=True), epics.caget(P + "guarded")]
epics.caput(P + "guarded", 7, wait=True)
out["guarded_refused"] = epics.caget(P + "guarded", use_monitor=False)
epics.caput(P + "setpoint", 50, wait=True)
out["clamped"] = epics.caget(P + "setpoint", use_monitor=False)
epics.caput(P + "mode", "Fast", wait=True)
out["mode"] = [epics.caget(P + "mode"), epics.caget(P + "mode", as_string=True)]
out["enum_strs"] = list(epics.PV(P + "mode", form="ctrl").get_ctrlvars()["enum_strs"])
out["wave"] = list(epics.caget(P + "wave"))
epics.caput(P + "wave", [4.0, 5.0, 6.0, 7.0], wait=True)
out["wave_after"] = list(epics.caget(P + "wave", use_monitor=False))
out["started"] = epics.caget(P + "started")
try:
    out["readonly_put"] = epics.caput(P + "reading", 1.0, wait=True, timeout=2)
except Exception as exc:
    out["readonly_put"] = type(exc).__name__
first = epics.caget({prefix!r} + "ticks", use_monitor=False)
time.sleep(0.5)
out["ticked"] = epics.caget({prefix!r} + "ticks", use_monitor=False) - first
for name, value in (("wave", [1.0, 2.0, 3.0]), ("mode", 0), ("setpoint", 1.0),
                    ("guarded", 0.0)):  # as the next library will expect them
    epics.caput(P + name, value, wait=True)
print(json.dumps(out))
"""
    for lib in ("pyepics", "epics_compat"):
        out = json.loads(run_script(lib, script, beamline.client_env).splitlines()[-1])
        assert out["slow"] == 1 and out["slow_took"] >= 0.45, (lib, out)
        assert out["nowait_took"] < 0.3, (lib, out)
        assert out["other_pv_took"] < 0.3, (lib, out)
        assert out["guarded_ok"] == [1, 4.0], (lib, out)
        assert out["guarded_refused"] == 4.0, (lib, out)
        assert out["clamped"] == 10.0, (lib, out)
        assert out["mode"] == [2, "Fast"], (lib, out)
        assert out["enum_strs"] == ["Off", "Slow", "Fast"], (lib, out)
        assert out["wave"] == [1.0, 2.0, 3.0] and out["wave_after"] == [4.0, 5.0, 6.0, 7.0]
        assert out["started"] == 1 and out["ticked"] >= 3, (lib, out)
        assert out["readonly_put"] == "CASeverityException", (lib, out)  # write denied


def test_alarms_set_from_code_and_posted_from_another_thread(beamline):
    prefix = beamline.records[0].prefix
    lab = beamline.records[0].lab
    writer = threading.Thread(target=lambda: lab.reading.write(7.5))
    writer.start()
    writer.join()
    script = f"""
import json
pv = epics.PV({prefix!r} + "lab:reading", form="time")
value = pv.get(timeout=5)
print(json.dumps([value, pv.severity, pv.status]))
"""
    for lib in ("pyepics", "epics_compat"):
        value, severity, status = json.loads(
            run_script(lib, script, beamline.client_env).splitlines()[-1])
        assert value == 7.5 and severity > 0 and status > 0, (lib, value, severity, status)
    lab.reading.write(0.0)


EXAMPLES = """
import json, time
P = {prefix!r}
out = {{}}
first = epics.caget(P + "count", use_monitor=False)
time.sleep(1.3)
out["ticks"] = epics.caget(P + "count", use_monitor=False) - first
t = time.monotonic()
epics.caput(P + "acquire", 1, wait=True)
out["acquire_took"] = time.monotonic() - t
out["frames"] = epics.caget(P + "frames", use_monitor=False)
image = epics.caget(P + "image", use_monitor=False)
out["image"] = [len(image), int(max(image)), int(min(image))]
motor = epics.Motor(P + "m1")
motor.move(0.5, wait=True)
out["motor"] = round(motor.get_position(readback=True), 3)
motor.move(0.0, wait=True)
print(json.dumps(out))
"""


def test_the_ticker_waveform_and_motor_examples():
    """Each example as its own IOC; one prefix, so one script reads all three."""
    prefix = f"ex{os.getpid()}:"
    iocs = [ExampleIoc(name, prefix) for name in ("ticker", "waveform", "motor")]
    try:
        env = {**iocs[0].env,
               "EPICS_CA_ADDR_LIST": " ".join(f"127.0.0.1:{ioc.port}" for ioc in iocs)}
        for lib in ("pyepics", "epics_compat"):
            out = json.loads(run_script(lib, EXAMPLES.format(prefix=prefix),
                                        env).splitlines()[-1])
            assert 1 <= out["ticks"] <= 2, (lib, out)
            assert out["acquire_took"] >= 0.09, (lib, out)  # the exposure, 0.1 s
            assert out["frames"] >= 1 and out["image"][0] == 64 * 48, (lib, out)
            assert out["image"][1] > 200 and out["image"][2] < 20, (lib, out)
            assert out["motor"] == 0.5, (lib, out)
    finally:
        for ioc in iocs:
            ioc.stop()
