"""ophyd-async's Channel Access devices, run through real aioca or epics_compat.aioca.

``python ophyd_async_scenario.py LIB IOC_PREFIX MOTOR_PREFIX`` prints one JSON line:
signal reads, sets, subscriptions, a Motor move, and the documents of a bluesky scan,
with uids and times left out so that two runs compare; and whether libca got loaded.
"""
from __future__ import annotations

import asyncio
import json
import sys

LIB, P, M = sys.argv[1:4]
if LIB == "epics_compat":
    import epics_compat
    epics_compat.install_as_epics()  # ophyd (v1), which the RunEngine imports, uses it
    epics_compat.install_as_aioca()

import numpy as np  # noqa: E402
from bluesky import RunEngine  # noqa: E402
from bluesky.plans import scan  # noqa: E402
from ophyd_async.core import Array1D, StandardReadable, StrictEnum, init_devices  # noqa
from ophyd_async.epics.core import epics_signal_r, epics_signal_rw  # noqa: E402
from ophyd_async.epics.motor import Motor  # noqa: E402


class Choice(StrictEnum):
    ZERO = "Zero"
    ONE = "One"
    TWO = "Two"
    THREE = "Three"


class Sample(StandardReadable):
    """Several signals of one device, one of them named with the ca:// prefix."""

    def __init__(self, prefix: str, name: str = ""):
        with self.add_children_as_readables():
            self.ai = epics_signal_r(float, prefix + "ai")
            self.ao = epics_signal_rw(float, "ca://" + prefix + "ao")
            self.count = epics_signal_rw(int, prefix + "long")
            self.choice = epics_signal_rw(Choice, prefix + "mbbo")
            self.text = epics_signal_rw(str, prefix + "str")
            self.wave = epics_signal_rw(Array1D[np.float64], prefix + "wdouble")
        super().__init__(name=name)


def plain(value):
    if isinstance(value, np.ndarray):
        return ["array", str(value.dtype), value.tolist()]
    if isinstance(value, dict):
        return {key: plain(val) for key, val in value.items()
                if key not in ("uid", "time", "timestamp", "run_start", "descriptor",
                               "timestamps", "versions", "scan_id", "start")}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Choice):
        return value.value
    return value


async def signals(sample: Sample, motor: Motor) -> dict:
    out = {}
    await sample.ao.set(1.25)
    await sample.count.set(12)
    await sample.choice.set(Choice.TWO)
    await sample.text.set("ophyd-async")
    await sample.wave.set(np.array([1.0, 2.0, 3.0]))
    out["values"] = [await sample.ao.get_value(), await sample.count.get_value(),
                     (await sample.choice.get_value()).value, await sample.text.get_value(),
                     (await sample.wave.get_value()).tolist()]
    out["read"] = plain({key: {"value": reading["value"],
                               "severity": reading.get("alarm_severity")}
                         for key, reading in (await sample.read()).items()})
    out["describe"] = plain(await sample.describe())
    seen = []

    def on_reading(reading):
        seen.append(next(iter(reading.values()))["value"])

    sample.ao.subscribe_reading(on_reading)
    await asyncio.sleep(0.3)
    for value in (2.0, 3.0, 4.0):
        await sample.ao.set(value)
    await asyncio.sleep(0.5)
    sample.ao.clear_sub(on_reading)
    out["subscribed"] = seen
    await motor.velocity.set(5.0)
    await motor.set(0.5)
    out["motor"] = [await motor.user_readback.get_value(),
                    await motor.motor_done_move.get_value(),
                    (await motor.describe())[motor.name]["source"].split("://")[0],
                    await motor.motor_egu.get_value()]
    await motor.set(0.0)
    return out


def libca_loaded() -> bool:
    with open("/proc/self/maps") as maps:
        return any("libca.so" in line for line in maps)


def main() -> None:
    run_engine = RunEngine({}, call_returns_result=True)
    loop = run_engine.loop
    with init_devices():
        sample = Sample(P, name="sample")
        motor = Motor(M + "m1", name="motor")
    out = asyncio.run_coroutine_threadsafe(signals(sample, motor), loop).result(60)
    documents = []
    run_engine(scan([sample], motor, 0.0, 0.4, 3),
               lambda name, doc: documents.append((name, plain(doc))))
    out["documents"] = documents
    out["libca loaded"] = libca_loaded()
    print(json.dumps(out, sort_keys=True, default=str))


if __name__ == "__main__":
    main()
