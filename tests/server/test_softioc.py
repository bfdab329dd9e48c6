"""Smoke test of the ``softioc`` fixture, with pyepics (libca) as the client."""
from __future__ import annotations

import json
import os
import time

import epics
import pytest

from ioc import run_python


def test_client_env_is_loopback_only(softioc):
    for name, value in softioc.env.items():
        assert os.environ[name] == value
    assert softioc.env["EPICS_CA_ADDR_LIST"] == f"127.0.0.1:{softioc.port}"


@pytest.mark.parametrize(
    "name, expected",
    [
        ("ai", 3.25),
        ("ai.EGU", "mm"),
        ("ai.DESC", "analog input"),
        ("long", -123456),
        ("int64", 1234567890123.0),
        ("str", "hello world"),
        ("wlong:init", [1, 2, 3, 4, 5]),
    ],
)
def test_caget(softioc, name, expected):
    value = epics.caget(softioc.pv(name), timeout=5)
    if isinstance(expected, list):
        assert list(value) == expected
    else:
        assert value == expected


def test_caget_enum_as_string(softioc):
    assert epics.caget(softioc.pv("mbbo"), as_string=True, timeout=5) == "Two"
    assert epics.caget(softioc.pv("bo"), as_string=True, timeout=5) == "On"


@pytest.mark.parametrize("name, value, initial", [("ao", 2.75, 1.5), ("str", "changed", "hello world")])
def test_caput_and_read_back(softioc, name, value, initial):
    # The IOC lives for the whole session: put the initial value back for later tests.
    try:
        assert epics.caput(softioc.pv(name), value, wait=True, timeout=5) == 1
        # use_monitor=False: a cached monitor may not have the new value yet (pyepics
        # can return the older value right after a put with wait).
        assert epics.caget(softioc.pv(name), timeout=5, use_monitor=False) == value
    finally:
        epics.caput(softioc.pv(name), initial, wait=True, timeout=5)


def test_caput_waveform(softioc):
    assert epics.caput(softioc.pv("wdouble"), [1.5, 2.5, 3.5], wait=True, timeout=5) == 1
    # Read from the server: pyepics' caget returns the monitor's cached value by default,
    # and the update for this put may come after its completion (it did, once in CI,
    # giving the values an earlier test left). The count too: without one, pyepics reads
    # as many elements as its cached PV's last update had (0 here once, giving []).
    assert list(epics.caget(softioc.pv("wdouble"), timeout=5, use_monitor=False,
                            count=3)) == [1.5, 2.5, 3.5]


def test_put_trips_alarm(softioc):
    pv = epics.PV(softioc.pv("alarm"))
    try:
        assert pv.put(6, wait=True, timeout=5) == 1
        meta = pv.get_with_metadata(form="ctrl", timeout=5)
        assert (meta["status"], meta["severity"]) == (4, 1)  # HIGH, MINOR
    finally:
        assert pv.put(0, wait=True, timeout=5) == 1
    assert pv.get_with_metadata(form="ctrl", timeout=5)["severity"] == 0


def test_readonly_record_has_no_write_access(softioc):
    pv = epics.PV(softioc.pv("readonly"))
    assert pv.wait_for_connection(timeout=5)
    assert pv.read_access and not pv.write_access


def test_counter_updates(softioc):
    first = epics.caget(softioc.pv("calc"), timeout=5)
    time.sleep(0.5)  # the record counts up every 0.1 s
    assert epics.caget(softioc.pv("calc"), timeout=5) > first


def test_run_python_in_subprocess(softioc):
    code = (
        "import json, epics\n"
        f"print(json.dumps(epics.caget({softioc.pv('long')!r}, timeout=5)))\n"
    )
    assert json.loads(run_python(code, softioc.env)) == -123456
