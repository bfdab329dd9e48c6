"""epics_compat.PV against the softIoc: connection, forms, values, metadata, puts, the
auto-monitor rules, get_pv's cache, repr and info.

Expected values are what pyepics 3.5 gives on the same records (checked by the
differential tests in test_pv_differential.py).
"""
from __future__ import annotations

import gc
import re
import threading
import time
import weakref
from types import SimpleNamespace

import numpy as np
import pytest

import epics_compat as epics
from epics_compat import ca, dbr
from pyepics_api import restore, wait_for

pytestmark = pytest.mark.timeout(60)

WRITTEN = ["ao", "long", "mbbo", "bo", "str", "slow", "slow:done", "wchar", "wdouble"]


@pytest.fixture(scope="module", autouse=True)
def restored_records(softioc):
    with restore(epics, [softioc.pv(name) for name in WRITTEN]):
        yield


def connected(name, **kwargs) -> epics.PV:
    pv = epics.PV(name, **kwargs)
    assert pv.wait_for_connection(timeout=5), f"{name} did not connect"
    return pv


# --- connection ------------------------------------------------------------------------

def test_connect_repr_and_basic_attributes(softioc):
    pv = epics.PV(softioc.pv("ai"))
    assert pv.wait_for_connection(timeout=5) is True
    assert pv.connected is True
    assert repr(pv) == f"<PV '{softioc.pv('ai')}', count=1, type=time_double, access=read/write>"
    assert (pv.pvname, pv.form, pv.type, pv.typefull) == (softioc.pv("ai"), "time",
                                                          "time_double", "time_double")
    assert (pv.count, pv.nelm, pv.ftype) == (1, 1, dbr.TIME_DOUBLE)
    assert pv.host == f"127.0.0.1:{softioc.port}"
    assert isinstance(pv.chid, dbr.chid_t)
    assert pv.context == ca.current_context()
    assert pv.connect() is True


def test_array_repr_shows_count_and_nelm(softioc):
    pv = connected(softioc.pv("wdouble:init"))
    pv.get()
    assert repr(pv) == (f"<PV '{softioc.pv('wdouble:init')}', count=3/10, "
                        f"type=time_double, access=read/write>")


def test_pvname_is_stripped(softioc):
    pv = connected("  " + softioc.pv("ai") + " ")
    assert pv.pvname == softioc.pv("ai")


def test_unconnected_pv(softioc):
    pv = epics.PV(softioc.pv("no:such:record"), connection_timeout=0.2)
    assert repr(pv) == f"<PV '{softioc.pv('no:such:record')}': not connected>"
    assert (pv.type, pv.typefull, pv.count, pv.connected) == ("unknown", "unknown", None,
                                                              False)
    start = time.monotonic()
    assert pv.wait_for_connection() is False
    assert pv.get() is None and pv.put(1) is None and pv.get_ctrlvars() is None
    assert time.monotonic() - start < 2.0  # each waits connection_timeout, not forever
    assert pv.connect(timeout=0.1) is False


def test_connection_timeout_default_is_ca_default(softioc):
    assert epics.PV(softioc.pv("ai")).connection_timeout == ca.DEFAULT_CONNECTION_TIMEOUT


# --- forms, values, metadata -------------------------------------------------------------

@pytest.mark.parametrize("form, type_name, keys", [
    ("native", "double", {"value"}),
    ("time", "time_double", {"value", "status", "severity", "timestamp", "posixseconds",
                             "nanoseconds"}),
    ("ctrl", "ctrl_double", {"value", "status", "severity", "precision", "units",
                             *dbr.ctrl_limits}),
])
def test_forms(softioc, form, type_name, keys):
    pv = connected(softioc.pv("ai"), form=form)
    assert pv.type == type_name
    md = pv.get_with_metadata(use_monitor=False)
    assert set(md) == keys
    assert md["value"] == 3.25


def test_string_pv_has_no_ctrl_form(softioc):
    pv = connected(softioc.pv("strin"), form="ctrl")
    assert pv.type == "time_string"
    assert pv.get() == "read me"


def test_get_with_metadata_form_override_and_namespace(softioc):
    pv = connected(softioc.pv("ai"), form="native")
    md = pv.get_with_metadata(form="ctrl")
    assert md["units"] == "mm" and md["precision"] == 4 and md["value"] == 3.25
    ns = pv.get_with_metadata(form="time", as_namespace=True)
    assert isinstance(ns, SimpleNamespace) and ns.value == 3.25 and ns.status == 17


def test_metadata_properties(softioc):
    pv = connected(softioc.pv("ai"))
    assert (pv.units, pv.precision) == ("mm", 4)
    assert (pv.upper_disp_limit, pv.lower_disp_limit) == (100.0, -100.0)
    assert (pv.upper_ctrl_limit, pv.lower_ctrl_limit) == (100.0, -100.0)
    assert (pv.upper_alarm_limit, pv.lower_alarm_limit) == (90.0, -90.0)
    assert (pv.upper_warning_limit, pv.lower_warning_limit) == (80.0, -80.0)
    assert (pv.status, pv.char_status, pv.severity, pv.char_severity) == (
        17, "UDF", 0, "NO_ALARM")
    assert pv.timestamp == dbr.EPICS2UNIX_EPOCH  # never processed: the EPICS epoch
    assert (pv.posixseconds, pv.nanoseconds) == (dbr.EPICS2UNIX_EPOCH, 0)
    assert (pv.access, pv.read_access, pv.write_access) == ("read/write", True, True)
    assert pv.enum_strs is None and pv.monitor_delta is None and pv.put_complete is None


def test_enum_pv(softioc):
    pv = connected(softioc.pv("mbbi"))
    assert pv.enum_strs == ("Zero", "One", "Two", "Three")
    assert (pv.get(), pv.get(as_string=True), pv.char_value) == (1, "One", "One")
    assert pv.type == "time_enum"


def test_readonly_access(softioc):
    pv = connected(softioc.pv("readonly"))
    assert (pv.access, pv.read_access, pv.write_access) == ("read-only", True, False)
    with pytest.raises(ca.CASeverityException):
        pv.put(1.0)


@pytest.mark.parametrize("record, value, text", [
    ("ai", 3.25, "3.2500"),
    ("longin", 42, "42"),
    ("int64", 1234567890123.0, "1e+12"),  # %g beyond 10**4, as pyepics
    ("strin", "read me", "read me"),
    ("bi", 0, "Low"),
    ("lsi", "a long string input", "a long string input"),
])
def test_char_value(softioc, record, value, text):
    pv = connected(softioc.pv(record))
    assert pv.get() == value
    assert pv.char_value == text
    assert pv.get(as_string=True) == text


def test_char_waveform_as_text(softioc):
    pv = connected(softioc.pv("wchar:init"))
    value = pv.get()
    assert isinstance(value, np.ndarray) and value.dtype == np.uint8
    assert bytes(value[:18]) == b"char waveform text"
    assert pv.char_value == "char waveform text"
    assert pv.get(as_string=True) == "char waveform text"
    assert (pv.count, pv.nelm) == (19, 64)


def test_numeric_waveform(softioc):
    pv = connected(softioc.pv("wlong:init"))
    value = pv.get()
    assert value.dtype == np.int32 and value.tolist() == [1, 2, 3, 4, 5]
    assert pv.get(as_numpy=False) == [1, 2, 3, 4, 5]
    assert pv.get(count=2).tolist() == [1, 2]
    assert pv.char_value == "<array size=5, type=time_long>"
    assert pv.get(as_string=True) == "<array size=5, type=time_long>"


def test_count_argument_limits_elements(softioc):
    pv = connected(softioc.pv("wlong:init"), count=3)
    assert pv.get().tolist() == [1, 2, 3]
    assert (pv.count, pv.nelm) == (3, 10)


def test_empty_waveform(softioc):
    pv = connected(softioc.pv("api:wempty"))
    assert pv.get().tolist() == [] and pv.count == 0 and pv.nelm == 16
    assert pv.severity == 3  # never written: UDF, INVALID


def test_get_timeout_and_use_monitor(softioc):
    pv = connected(softioc.pv("calc"))  # counts up every 0.1 s
    first = pv.get(use_monitor=False, timeout=1.0)
    assert wait_for(lambda: pv.get() > first, 2.0)


# --- puts ----------------------------------------------------------------------------------

def test_put_and_value_property(softioc):
    pv = connected(softioc.pv("ao"))
    assert pv.put(2.5, wait=True) == 1
    assert pv.get() == 2.5  # the monitor has the new value when put(wait) returns
    pv.value = 3.75
    assert wait_for(lambda: pv.value == 3.75)
    assert pv.char_value == "3.75"


def test_put_then_get_sees_new_value_every_time(softioc):
    pv = connected(softioc.pv("ao"))
    pv.get()
    for step in range(50):
        value = step * 0.25 - 5
        pv.put(value, wait=True)
        assert pv.get() == value


def test_put_then_char_value_is_the_new_one_every_time(softioc):
    """As get(): the text of the value a completed put left, even when the server sends
    the put's monitor update after its completion (an enum: the text is a state name)."""
    pv = connected(softioc.pv("mbbo"))
    pv.get_ctrlvars()
    names = ["Zero", "One", "Two", "Three"]
    for step in range(60):
        assert pv.put(step % 4, wait=True) == 1
        assert pv.char_value == names[step % 4]


def test_new_pv_put_then_get_sees_new_value(softioc):
    """A put(wait) sent before the new subscription's first update still reads back."""
    for step in range(20):
        pv = epics.PV(softioc.pv("str"))
        assert pv.wait_for_connection(5)
        assert pv.put(f"text {step}", wait=True) == 1
        assert pv.get() == f"text {step}" and pv.char_value == f"text {step}"
        pv.disconnect()


def test_put_enum_by_name_and_number(softioc):
    pv = connected(softioc.pv("mbbo"))
    assert pv.put("Three", wait=True) == 1
    assert pv.get() == 3 and pv.char_value == "Three"
    assert pv.put(1, wait=True) == 1
    assert pv.get(as_string=True) == "One"


def test_put_string_and_char_waveform(softioc):
    string = connected(softioc.pv("str"))
    assert string.put("changed", wait=True) == 1 and string.get() == "changed"
    chars = connected(softioc.pv("wchar"))
    assert chars.put("some text", wait=True) == 1
    assert chars.get(as_string=True) == "some text"


def test_put_wait_waits_for_completion(softioc):
    pv = connected(softioc.pv("slow"))
    start = time.monotonic()
    assert pv.put(1, wait=True) == 1
    assert 0.4 < time.monotonic() - start < 3.0
    assert pv.put(2, wait=True, timeout=0.05) == -1  # completes only after 0.5 s
    time.sleep(0.6)


def test_put_use_complete_and_callback(softioc):
    pv = connected(softioc.pv("slow"))
    calls = []
    done = threading.Event()

    def on_done(**kws):
        calls.append(kws)
        done.set()

    assert pv.put(3, use_complete=True, callback=on_done, callback_data={"tag": 7}) == 1
    assert pv.put_complete is False
    assert done.wait(3.0)
    assert pv.put_complete is True
    assert calls == [{"pvname": softioc.pv("slow"), "tag": 7}]
    done.clear()
    pv.put(4, callback=on_done, callback_data="data")
    assert done.wait(3.0)
    assert calls[-1] == {"pvname": softioc.pv("slow"), "data": "data"}
    assert pv.put(5, wait=True) == 1 and pv.put_complete is None


# --- auto monitor --------------------------------------------------------------------------

def test_small_pvs_are_monitored(softioc):
    pv = connected(softioc.pv("ai"))
    assert pv.auto_monitor is True
    assert pv.auto_monitor_mask == ca.DEFAULT_SUBSCRIPTION_MASK


def test_large_arrays_are_not_monitored(softioc):
    pv = connected(softioc.pv("wbig"))
    assert pv.nelm == 1_000_000 >= ca.AUTOMONITOR_MAXLENGTH
    assert pv.auto_monitor is False and pv.auto_monitor_mask is None


def test_automonitor_maxlength_is_read_at_connection(softioc, monkeypatch):
    monkeypatch.setattr(ca, "AUTOMONITOR_MAXLENGTH", 100)
    assert connected(softioc.pv("wfloat")).auto_monitor is False  # NELM 128
    assert connected(softioc.pv("wfloat"), count=50).auto_monitor is True
    assert connected(softioc.pv("wlong:init")).auto_monitor is True  # NELM 10


def test_auto_monitor_false_and_mask(softioc):
    pv = connected(softioc.pv("ao"), auto_monitor=False)
    assert pv.auto_monitor is False and pv.auto_monitor_mask is None
    pv.auto_monitor = dbr.DBE_ALARM
    assert pv.auto_monitor_mask == dbr.DBE_ALARM
    pv.auto_monitor = True
    assert pv.auto_monitor_mask == ca.DEFAULT_SUBSCRIPTION_MASK
    pv.clear_auto_monitor()
    assert pv.auto_monitor is False and pv.auto_monitor_mask is None


def test_unmonitored_get_asks_the_server(softioc):
    writer = connected(softioc.pv("ao"))
    reader = connected(softioc.pv("ao"), auto_monitor=False)
    writer.put(6.5, wait=True)
    assert reader.get() == 6.5
    writer.put(7.5, wait=True)
    assert reader.get() == 7.5


# --- get_pv and its cache ------------------------------------------------------------------

def test_get_pv_caches_by_name_and_form(softioc):
    name = softioc.pv("longin")
    first = epics.get_pv(name, connect=True)
    assert epics.get_pv(name) is first
    assert epics.get_pv(name, form="ctrl") is not first
    assert epics.get_pv(name, form="bogus") is first  # unknown forms mean 'time'
    assert epics.pv._PVcache_[(name, "time", ca.current_context())] is first


def test_get_pv_on_cached_pv_runs_new_callbacks_now(softioc):
    name = softioc.pv("longin")
    pv = epics.get_pv(name, connect=True)
    pv.get()
    seen = {}
    again = epics.get_pv(name,
                         callback=lambda **kw: seen.setdefault("value", kw["value"]),
                         connection_callback=lambda **kw: seen.setdefault("conn", kw),
                         access_callback=lambda r, w, pv=None: seen.setdefault("acc", (r, w)))
    assert again is pv
    assert seen["value"] == 42
    assert seen["conn"] == {"pvname": name, "conn": True, "pv": pv}
    assert seen["acc"] == (True, True)


def test_get_pv_connect_reports_failure(softioc, capsys):
    pv = epics.get_pv(softioc.pv("nothing:here"), connect=True, timeout=0.2)
    assert pv.connected is False
    assert "cannot connect to" in capsys.readouterr().out


def test_disconnect_forgets_the_pv(softioc):
    name = softioc.pv("mbbi")
    pv = epics.get_pv(name, connect=True, callback=lambda **kw: None)
    pv.get()
    pv.disconnect()
    assert pv.connected is False and pv.callbacks == {}
    assert (name, "time", ca.current_context()) not in epics.pv._PVcache_
    fresh = epics.get_pv(name, connect=True)
    assert fresh is not pv and fresh.get() == 1


def test_reconnect(softioc):
    pv = connected(softioc.pv("ai"))
    assert pv.reconnect() is True
    assert pv.get() == 3.25 and pv.auto_monitor_mask == ca.DEFAULT_SUBSCRIPTION_MASK


def test_equality_and_hash(softioc):
    one = connected(softioc.pv("ai"))
    two = connected(softioc.pv("ai"))
    assert one == two and one != connected(softioc.pv("ao")) and one != "ai"
    with pytest.raises(TypeError):
        hash(one)  # as in pyepics: __eq__ without __hash__


def test_pv_freed_while_flags_are_busy(softioc):
    """Making a waiter's Event allocates, and so may run the garbage collector and with
    it PV.__del__, which clears that PV's connection flag: with the flags' lock held.
    That must not deadlock (it did, in the middle of a put)."""
    from epics_compat import sync

    pv = connected(softioc.pv("ao"))
    pv.disconnect()  # its channel lets go of it
    freed = weakref.ref(pv)

    def free_inside_the_lock():
        nonlocal pv
        with sync.flag_lock:  # as when the collector runs inside Flag.wait
            pv = None
            gc.collect()  # frees it (its monitor's handler refers to it in a cycle)

    thread = threading.Thread(target=free_inside_the_lock, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "deadlocked: PV.__del__ with the flags' lock held"
    assert freed() is None


# --- info, fmt_time ------------------------------------------------------------------------

def test_info_report(softioc):
    pv = connected(softioc.pv("mbbi"), callback=lambda **kw: None)
    pv.get()
    lines = pv.info.splitlines()
    assert lines[0] == f"== {softioc.pv('mbbi')}  (time_enum) =="
    assert "   char_status     = UDF" in lines
    start = lines.index("   enum strings: ")
    assert lines[start + 1:start + 5] == ["       0 = Zero", "       1 = One",
                                          "       2 = Two", "       3 = Three"]
    assert lines[start + 5] == "   PV is internally monitored, with 1 user-defined callbacks"
    assert lines[start + 6].startswith("      <lambda> in file ")
    assert lines[-1] == "============================="


def test_fmt_time():
    stamp = time.mktime((2024, 3, 5, 14, 7, 9, 0, 0, -1)) + 0.25
    assert epics.pv.fmt_time(stamp) == "2024-03-05 14:07:09.25000"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{5}", epics.pv.fmt_time())
