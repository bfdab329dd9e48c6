"""aioca scenarios, run unchanged through real aioca (libca) or epics_compat.aioca.

``python aioca_scenarios.py LIB PREFIX SCENARIO`` prints one JSON line: what the scenario
saw, made comparable (``plain``). LIB is ``aioca`` or ``epics_compat``; the client
environment (EPICS_CA_*) comes from the caller. Each scenario first writes the values it
reads, so that both runs see the same IOC state.
"""
from __future__ import annotations

import asyncio
import json
import math
import sys

import numpy as np

LIB, P, SCENARIO = sys.argv[1:4]
if LIB == "epics_compat":
    import epics_compat
    epics_compat.install_as_aioca()

import aioca  # noqa: E402
from aioca import (DBR_CHAR_BYTES, DBR_CHAR_STR, DBR_ENUM_STR, DBR_STRING,  # noqa: E402
                   FORMAT_CTRL, FORMAT_TIME, CANothing, caget, cainfo, camonitor, caput,
                   connect, get_channel_infos)

FIELDS = ("name", "ok", "datatype", "element_count", "severity", "status", "units",
          "precision", "upper_disp_limit", "lower_disp_limit", "upper_alarm_limit",
          "lower_alarm_limit", "upper_warning_limit", "lower_warning_limit",
          "upper_ctrl_limit", "lower_ctrl_limit", "enums", "ackt", "acks", "errorcode")


def plain(value):
    """A value as JSON can carry it, with its aioca type and augmented fields."""
    if isinstance(value, CANothing):
        return {"CANothing": [value.name, value.errorcode, bool(value), str(value)]}
    if isinstance(value, np.ndarray):
        body = ["array", str(value.dtype), [plain(v) for v in value.tolist()]]
    elif isinstance(value, float) and math.isnan(value):
        body = "nan"
    elif isinstance(value, (bytes, bytearray)):
        body = ["bytes", list(bytes(value))]
    elif isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    else:
        body = value
    fields = {field: plain(getattr(value, field)) for field in FIELDS
              if hasattr(value, field) and not isinstance(value, (list, tuple))}
    if hasattr(value, "timestamp") and not isinstance(value, (list, tuple)):
        fields["timestamp"] = type(value.timestamp).__name__
        fields["raw_stamp"] = [type(part).__name__ for part in value.raw_stamp]
        fields["datetime"] = type(value.datetime).__name__
    if fields:
        return {"value": body, "type": type(value).__name__, **fields}
    return body


async def gets():
    await caput(P + "ao", 2.5, wait=True)
    await caput(P + "str", "text", wait=True)
    await caput(P + "mbbo", 1, wait=True)
    names = ["ai", "ao", "longin", "long", "bi", "mbbo", "str", "wdouble:init",
             "wlong:init", "wchar:init", "wstring", "lsi", "int64in"]
    results = {}
    for name in names:
        for fmt in (0, FORMAT_TIME, FORMAT_CTRL):
            results[f"{name}/{fmt}"] = plain(await caget(P + name, format=fmt))
    return results


async def datatypes():
    await caput(P + "mbbo", 2, wait=True)
    cases = {
        "ai as int": (P + "ai", dict(datatype=int)),
        "ai as str": (P + "ai", dict(datatype=str)),
        "ai as DBR_STRING": (P + "ai", dict(datatype=DBR_STRING)),
        "ai as float32": (P + "ai", dict(datatype=np.float32)),
        "mbbo enum str": (P + "mbbo", dict(datatype=DBR_ENUM_STR)),
        "ao enum str": (P + "ao", dict(datatype=DBR_ENUM_STR)),
        "wchar char str": (P + "wchar:init", dict(datatype=DBR_CHAR_STR)),
        "wchar char bytes": (P + "wchar:init", dict(datatype=DBR_CHAR_BYTES)),
        "wdouble count 2": (P + "wdouble:init", dict(count=2)),
        "wdouble count -1": (P + "wdouble:init", dict(count=-1)),
        "wdouble count 1": (P + "wdouble:init", dict(count=1)),
        "wdouble as int32 ctrl": (P + "wdouble:init", dict(datatype=np.int32,
                                                           format=FORMAT_CTRL)),
        "lsi $": (P + "lsi.VAL$", {}),
        "stsack": (P + "ai", dict(datatype=aioca.DBR_STSACK_STRING)),
        "class name": (P + "ai", dict(datatype=aioca.DBR_CLASS_NAME)),
    }
    return {label: plain(await caget(name, **kwargs)) for label, (name, kwargs) in
            cases.items()}


async def puts():
    results = {}
    # A refused write leaves the record as it was: the same for both runs.
    await caput(P + "lstr.VAL$", "start", datatype=DBR_CHAR_STR, wait=True)
    writes = [("ao", 4.25, {}), ("ao", "5.5", {}), ("long", 7, {}), ("long", 7.9, {}),
              ("mbbo", "Two", {}), ("mbbo", 1, {}), ("str", "hello", {}),
              ("wdouble", [1.5, 2.5, 3.5], {}), ("wlong", np.arange(5), {}),
              ("wstring", ["a", "bc"], {}), ("lstr.VAL$", "a long string " * 5, {}),
              ("lstr.VAL$", "a long string " * 5, dict(datatype=DBR_CHAR_STR)),
              ("str", "x" * 39, {}), ("str", "x" * 40, {}),
              ("ao", 1, dict(datatype=DBR_STRING)), ("wchar", "chars", dict(
                  datatype=DBR_CHAR_STR))]
    for name, value, kwargs in writes:
        label = f"{name}={value!r}/{kwargs}"
        try:
            result = await caput(P + name, value, wait=True, **kwargs)
        except Exception as exc:
            result = [type(exc).__name__, str(exc)]
        results[label] = [plain(result), plain(await caget(P + name, **(
            {"datatype": DBR_CHAR_STR} if "datatype" in kwargs and
            kwargs["datatype"] == DBR_CHAR_STR else {})))]
    results["no wait"] = plain(await caput(P + "ao", 6.0))
    await asyncio.sleep(0.2)
    results["after no wait"] = plain(await caget(P + "ao"))
    results["list"] = plain(await caput([P + "ao", P + "long"], [1.0, 2], wait=True))
    results["list repeat"] = plain(await caput([P + "ao", P + "long"], 3, wait=True))
    results["list read back"] = plain(await caget([P + "ao", P + "long"]))
    results["readonly"] = plain(await caput(P + "readonly", 1.0, wait=True, throw=False))
    results["bad enum"] = plain(await caput(P + "mbbo", "Nine", wait=True, throw=False))
    try:
        await caput(P + "readonly", 1.0, wait=True)
    except Exception as exc:
        results["readonly raises"] = type(exc).__name__
    try:
        await caput(P + "mbbo", "Nine", wait=True)
    except Exception as exc:
        results["bad enum raises"] = [type(exc).__name__, str(exc)]
    return results


async def failures():
    results = {"missing": plain(await caget("missing:pv", timeout=0.3, throw=False)),
               "list with missing": plain(await caget([P + "ai", "missing:pv"],
                                                      timeout=0.5, throw=False)),
               "connect missing": plain(await connect("missing:pv", timeout=0.3,
                                                      throw=False)),
               "connect": plain(await connect([P + "ai", P + "ao"])),
               "caput missing": plain(await caput("missing:pv", 1, timeout=0.3,
                                                  throw=False))}
    for label, call in [("caget", caget("missing:pv", timeout=0.2)),
                        ("caget list", caget([P + "ai", "missing:pv"], timeout=0.2)),
                        ("cainfo", cainfo("missing:pv", timeout=0.2))]:
        try:
            await call
        except CANothing as exc:
            results[label + " raises"] = plain(exc)
    info = await cainfo(P + "wdouble:init")
    results["cainfo"] = [info.ok, info.name, info.state, info.read, info.write, info.count,
                         info.datatype, str(info).splitlines()[0]]
    unconnected = await cainfo("missing:other", wait=False)
    results["cainfo unconnected"] = [unconnected.state, unconnected.count,
                                     unconnected.datatype, unconnected.read]
    results["infos"] = sorted([info.name, info.connected, info.subscriber_count]
                              for info in get_channel_infos())
    return results


async def monitors():
    await caput(P + "ao", 0.0, wait=True)
    every, merged = [], []
    sub_all = camonitor(P + "ao", every.append, all_updates=True)

    async def slow(value):
        merged.append(float(value))
        await asyncio.sleep(0.3)

    sub_merged = camonitor(P + "ao", slow)
    await asyncio.sleep(0.5)
    for i in range(1, 11):
        await caput(P + "ao", float(i), wait=True)
    await asyncio.sleep(1.2)
    timed = []
    sub_missing = camonitor("missing:pv", timed.append, connect_timeout=0.2)
    listed = []
    subs = camonitor([P + "ai", P + "long"], lambda v, i: listed.append((i, plain(v))))
    timefmt = []
    sub_time = camonitor(P + "ai", timefmt.append, format=FORMAT_TIME)
    await asyncio.sleep(0.6)
    for sub in (sub_all, sub_merged, sub_missing, sub_time, *subs):
        sub.close()
    await caput(P + "ao", 99.0, wait=True)
    await asyncio.sleep(0.2)
    return {"all": [float(v) for v in every], "merged first and last": [merged[0],
                                                                          merged[-1]],
            "merged fewer": len(merged) < 11, "dropped": sub_merged.dropped_callbacks > 0,
            "timed out": plain(timed), "listed": sorted(listed, key=lambda x: x[0]),
            "time format": plain(timefmt[:1]), "state": sub_all.state,
            "every is sub": isinstance(sub_all, aioca.Subscription)}


async def reconnect():
    """The IOC restarts: notify_disconnect passes CANothing, then values come again."""
    from ioc import SoftIoc
    port, prefix, db, log = sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7]
    from pathlib import Path
    ioc = SoftIoc(port=int(port), prefix=prefix, db=Path(db), log_path=Path(log))
    ioc.start()
    seen = []
    sub = camonitor(prefix + "ao", seen.append, notify_disconnect=True)
    await asyncio.sleep(1.0)
    await caput(prefix + "ao", 2.0, wait=True)
    await asyncio.sleep(0.3)
    ioc.stop()
    await asyncio.sleep(1.0)
    ioc.start()
    for _ in range(100):
        await asyncio.sleep(0.1)
        if len(seen) >= 4:
            break
    await caput(prefix + "ao", 3.0, wait=True)
    await asyncio.sleep(0.3)
    value_after = plain(await caget(prefix + "ao"))
    sub.close()
    ioc.stop()
    return {"seen": plain(seen), "after": value_after}


if __name__ == "__main__":
    result = asyncio.run(globals()[SCENARIO]())
    print(json.dumps(result, sort_keys=True))
    aioca.purge_channel_caches()
