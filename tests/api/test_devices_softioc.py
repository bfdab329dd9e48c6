"""epics_compat.devices ai, ao, bi and bo against the softIoc, compared with pyepics.

Each scenario runs first with pyepics' ``epics.devices`` (libca, the oracle) and then
with ``epics_compat.devices`` in this process, on the same records (``dev:*`` of
tests/db/test.db, set to known values at the start of each run), and both runs must
give the same results in value and type: field reads, long field names through
``get``, attribute and method puts with their return values, record processing
(raw conversion, drive limits, a bo's HIGH pulse) and saved states.
"""
from __future__ import annotations

import time

import epics
import epics.devices
import pytest

import epics_compat
import epics_compat.devices
from ca_compare import assert_same
from pyepics_api import wait_for

pytestmark = [pytest.mark.differential, pytest.mark.timeout(60)]

LIBS = {"pyepics": epics, "epics_compat": epics_compat}


def settled(read, expected, timeout=5.0):
    """``read()`` once it gives ``expected`` (or after ``timeout``): a monitored value
    read right after a put may still be the old one, in either library."""
    wait_for(lambda: read() == expected, timeout)
    return read()


def run_both(scenario, softioc):
    results = {name: scenario(lib, softioc.pv) for name, lib in LIBS.items()}
    assert_same(results["pyepics"], results["epics_compat"], scenario.__name__)
    return results["epics_compat"]


def ai_scenario(lib, pv):
    name = pv("dev:ai")
    dev = lib.devices.ai(name)
    out = {"repr": repr(dev).replace(name, "P"), "pvs": sorted(dev._pvs)}
    for attr in dev.attrs:
        dev.PV(attr).wait_for_connection(5)
    out["put RVAL"] = dev.put("RVAL", 10, wait=True)
    out["VAL"] = settled(lambda: dev.VAL, 21.0)  # (10 + 0) * 1 + 0, then * 2 + 1
    out["fields"] = [dev.EGU, dev.HOPR, dev.LOPR, dev.PREC, dev.DESC, dev.DTYP, dev.LINR,
                     dev.ESLO, dev.EOFF, dev.HIHI, dev.HHSV, dev.LSV, dev.HYST]
    out["as_string"] = [dev.get("HHSV", as_string=True), dev.get("LINR", as_string=True),
                        dev.get("VAL", as_string=True)]
    out["NAME"] = dev.NAME.replace(name, "P")
    out["INP"] = dev.get("INP", as_string=True)
    dev.put("RVAL", 60, wait=True)  # VAL 121: HIGH, MINOR
    out["alarm"] = [settled(lambda: dev.VAL, 121.0),
                    dev.PV("VAL").get_ctrlvars()["severity"]]
    state = dev.save_state()
    out["state keys"] = sorted(state)
    out["state"] = {key: state[key] for key in ("VAL", "EGU", "PREC", "HHSV", "RVAL")}
    # A trailing '.' is dropped; keywords go to Device (no new PVs: mutable=False).
    strict = lib.devices.ai(name + ".", mutable=False)
    out["strict prefix"] = strict._prefix.replace(name, "P")
    with pytest.raises(AttributeError):
        strict.NOSUCH
    out["strict VAL"] = strict.VAL
    return out


def test_ai(softioc):
    out = run_both(ai_scenario, softioc)
    assert out["VAL"] == 21.0 and out["alarm"][0] == 121.0 and out["alarm"][1] == 1
    assert out["fields"][0] == "degC" and out["strict prefix"] == "P."


def ao_scenario(lib, pv):
    name = pv("dev:ao")
    lib.caput(name, 1.0, wait=True)
    dev = lib.devices.ao(name)
    out = {"repr": repr(dev).replace(name, "P"), "count": len(dev._pvs)}
    dev.PV("VAL").wait_for_connection(5)
    out["initial"] = [dev.VAL, dev.DRVH, dev.DRVL, dev.EGU, dev.PREC, dev.OMSL]
    dev.VAL = 2.5  # an attribute put does not wait
    out["after attribute put"] = wait_for(lambda: dev.VAL == 2.5)
    out["put wait"] = dev.put("VAL", 20, wait=True)  # clamped to DRVH
    out["clamped high"] = [settled(lambda: dev.VAL, 10.0), settled(lambda: dev.OVAL, 10.0)]
    out["put low"] = dev.put("VAL", -20, wait=True, timeout=5)
    out["clamped low"] = settled(lambda: dev.get("VAL"), -5.0)
    out["as_string"] = [dev.get("VAL", as_string=True), dev.get("OMSL", as_string=True)]
    dev.put("VAL", 1.0, wait=True)
    return out


def test_ao(softioc):
    out = run_both(ao_scenario, softioc)
    assert out["clamped high"] == [10.0, 10.0] and out["clamped low"] == -5.0
    assert out["put wait"] == 1


def bi_scenario(lib, pv):
    name = pv("dev:bi")
    lib.caput(name, 1, wait=True)
    dev = lib.devices.bi(name)
    dev.PV("VAL").wait_for_connection(5)
    out = {"fields": [dev.VAL, dev.ZNAM, dev.ONAM, dev.DESC, dev.RVAL],
           "as_string": dev.get("VAL", as_string=True)}
    out["put"] = dev.put("VAL", 0, wait=True)
    out["after"] = [settled(lambda: dev.VAL, 0), dev.get("VAL", as_string=True)]
    out["put text"] = dev.put("VAL", "Open", wait=True)
    out["after text"] = settled(lambda: dev.VAL, 1)
    return out


def test_bi(softioc):
    out = run_both(bi_scenario, softioc)
    assert out["fields"][:3] == [1, "Closed", "Open"] and out["after"] == [0, "Closed"]


def bo_scenario(lib, pv):
    name = pv("dev:bo")
    dev = lib.devices.bo(name)
    dev.PV("VAL").wait_for_connection(5)
    out = {"fields": [dev.ZNAM, dev.ONAM, dev.HIGH, dev.DESC, dev.OMSL]}
    values = []
    dev.add_callback("VAL", lambda value=None, **kw: values.append(value))
    start = time.monotonic()
    out["put"] = dev.put("VAL", 1, wait=True)
    out["right after"] = settled(lambda: dev.get("VAL", as_string=True), "On", 0.2)
    out["back to 0"] = wait_for(lambda: dev.VAL == 0, timeout=3)
    took = time.monotonic() - start
    out["pulse took HIGH"] = 0.25 <= took < 2.0
    out["values"] = wait_for(lambda: values[-2:] == [1, 0]) and values[-2:]
    dev.remove_callbacks("VAL")
    return out


def test_bo_momentary_high(softioc):
    out = run_both(bo_scenario, softioc)
    assert out["right after"] == "On" and out["back to 0"] and out["pulse took HIGH"]


def narrow_nonpvs_scenario(lib, pv):
    """A Device subclass whose _nonpvs lack '_init' (as Scaler's, MCA's, AD_Camera's):
    Device.__init__ never sets _init, so unknown attributes are not PVs: reading one
    fails at once and assigning one is dropped."""
    class Narrow(lib.Device):
        _nonpvs = ("_prefix", "_pvs", "_delim")

    dev = Narrow(pv("dev:"), attrs=("ao",))
    out = {"init": dev._init, "ao": settled(lambda: dev.ao, 1.0)}
    start = time.monotonic()
    try:
        dev.bi
    except AttributeError as exc:
        out["unknown"] = str(exc)
    dev.label = "dropped"
    out["assigned"] = hasattr(dev, "label")
    out["fast"] = time.monotonic() - start < 0.5
    out["pvs"] = sorted(dev._pvs)
    return out


def test_device_subclass_without_init_in_nonpvs(softioc):
    LIBS["pyepics"].caput(softioc.pv("dev:ao"), 1.0, wait=True)
    out = run_both(narrow_nonpvs_scenario, softioc)
    assert out == {"init": False, "ao": 1.0, "unknown": "Narrow has no attribute bi",
                   "assigned": False, "fast": True, "pvs": ["ao"]}
