"""epics_compat.PV callbacks: value callbacks and their keyword arguments, indices,
add/remove/clear/run, connection and access-rights callbacks, callbacks that use CA
themselves, and PVs used from other threads and contexts."""
from __future__ import annotations

import threading
import time

import pytest

import epics_compat as epics
from epics_compat import ca
from pyepics_api import restore, wait_for

pytestmark = pytest.mark.timeout(60)

#: The keyword arguments of a value callback of a 'time' PV in pyepics 3.5.
CALLBACK_KEYWORDS = {
    "pvname", "value", "char_value", "status", "severity", "timestamp", "posixseconds",
    "nanoseconds", "ftype", "chid", "host", "count", "nelm", "access", "read_access",
    "write_access", "type", "typefull", "precision", "units", "enum_strs",
    "monitor_delta", "upper_disp_limit", "lower_disp_limit", "upper_alarm_limit",
    "lower_alarm_limit", "lower_warning_limit", "upper_warning_limit", "upper_ctrl_limit",
    "lower_ctrl_limit", "cb_info",
}


@pytest.fixture(scope="module", autouse=True)
def restored_records(softioc):
    with restore(epics, [softioc.pv(name) for name in ("ao", "long", "bo")]):
        yield


class Recorder:
    """A callback that keeps its keyword arguments."""

    def __init__(self):
        self.calls = []
        self.__name__ = "recorder"

    def __call__(self, **kwargs):
        self.calls.append(kwargs)

    def values(self):
        return [call["value"] for call in self.calls]


def test_callback_keywords_and_values(softioc):
    rec = Recorder()
    pv = epics.PV(softioc.pv("ao"), callback=rec)
    assert pv.wait_for_connection(5)
    assert wait_for(lambda: rec.calls)  # the subscription's first update
    for value in (2.25, 3.5):
        pv.put(value, wait=True)
    assert wait_for(lambda: rec.values()[-1] == 3.5)
    call = rec.calls[-1]
    assert set(call) == CALLBACK_KEYWORDS
    assert call["pvname"] == softioc.pv("ao") and call["cb_info"] == (0, pv)
    assert (call["type"], call["typefull"], call["count"], call["nelm"]) == (
        "time_double", "time_double", 1, 1)
    assert (call["status"], call["severity"], call["access"]) == (0, 0, "read/write")
    assert call["timestamp"] == call["posixseconds"] + call["nanoseconds"] // 1000 * 1e-6


def test_ctrl_metadata_reaches_callbacks_added_later(softioc):
    pv = epics.PV(softioc.pv("ao"))
    pv.wait_for_connection(5)
    rec = Recorder()
    index = pv.add_callback(rec)  # with_ctrlvars: units and precision fetched now
    pv.put(4.125, wait=True)
    assert wait_for(lambda: 4.125 in rec.values())
    call = rec.calls[-1]
    assert (call["units"], call["precision"], call["char_value"]) == ("V", 2, "4.12")
    assert call["cb_info"] == (index, pv)


def test_several_callbacks_indices_and_extra_keywords(softioc):
    first, second, third = Recorder(), Recorder(), Recorder()
    pv = epics.PV(softioc.pv("long"), callback=[first, second])
    pv.wait_for_connection(5)
    assert sorted(pv.callbacks) == [0, 1]
    assert pv.add_callback(third, tag="x") == 2
    assert pv.add_callback(third, index=10) == 10
    pv.put(11, wait=True)
    assert wait_for(lambda: 11 in third.values() and third.values().count(11) == 2)
    assert {call.get("tag") for call in third.calls if call["value"] == 11} == {"x", None}
    assert 11 in first.values() and 11 in second.values()

    pv.remove_callback(1)
    assert sorted(pv.callbacks) == [0, 2, 10]
    before = len(second.calls)
    pv.put(12, wait=True)
    assert wait_for(lambda: 12 in first.values())
    assert len(second.calls) == before

    pv.run_callbacks()  # every callback once more, with the current data
    assert first.calls[-1]["value"] == 12 and third.calls[-1]["value"] == 12
    pv.run_callback(0)
    assert first.calls[-1]["cb_info"] == (0, pv)

    pv.clear_callbacks()
    assert pv.callbacks == {}


def test_a_subclass_run_callback_is_used_for_monitor_updates(softioc):
    """As in pyepics, run_callbacks goes through run_callback, so that a subclass that
    overrides it sees every update (the PV's own skips that call when not overridden)."""
    seen = []

    class Filtered(epics.PV):
        def run_callback(self, index):
            if self._args["value"] != 13:  # hold back one value
                seen.append((index, self._args["value"]))
                super().run_callback(index)
    rec = Recorder()
    pv = Filtered(softioc.pv("long"), callback=rec)
    assert pv.wait_for_connection(5)
    assert wait_for(lambda: rec.calls)
    for value in (13, 14):
        pv.put(value, wait=True)
    assert wait_for(lambda: 14 in rec.values())
    assert 13 not in rec.values() and (0, 14) in seen
    assert rec.calls[-1]["cb_info"] == (0, pv)


def test_add_callback_run_now(softioc):
    pv = epics.PV(softioc.pv("longin"))
    pv.wait_for_connection(5)
    rec = Recorder()
    pv.add_callback(rec, run_now=True)
    assert rec.calls, "run_now runs the callback before add_callback returns"
    assert rec.calls[0]["value"] == 42 and rec.calls[0]["char_value"] == "42"


def test_connection_and_access_callbacks(softioc):
    conns, access = [], []
    pv = epics.PV(softioc.pv("readonly"),
                  connection_callback=lambda **kw: conns.append(kw),
                  access_callback=lambda read, write, pv=None: access.append((read, write,
                                                                              pv)))
    assert pv.wait_for_connection(5)
    assert wait_for(lambda: access)
    assert conns == [{"pvname": softioc.pv("readonly"), "conn": True, "pv": pv}]
    assert access[0] == (True, False, pv)
    # A second PV on the connected channel: libca calls the access handlers at once.
    second = []
    epics.PV(softioc.pv("readonly"), access_callback=lambda r, w, pv=None: second.append(w))
    assert second == [False] and len(access) == 2


def test_clear_callbacks_with_access_and_connection(softioc):
    pv = epics.PV(softioc.pv("ai"), connection_callback=lambda **kw: None,
                  access_callback=lambda read, write, pv=None: None)
    pv.clear_callbacks(with_access_callback=True, with_connect_callback=True)
    assert pv.access_callbacks == [] and pv.connection_callbacks == []


def test_callback_containers_work_as_attributes(softioc):
    """A PV made without callbacks makes its containers when first used: what is put
    in them (or assigned to them) afterwards must still be called, as in pyepics."""
    conns, access, values = [], [], Recorder()
    pv = epics.PV(softioc.pv("longin"))
    assert pv.callbacks == {} and pv.callbacks is pv.callbacks
    pv.connection_callbacks.append(lambda **kw: conns.append(kw["conn"]))
    pv.access_callbacks = [lambda read, write, pv=None: access.append(read)]
    pv.callbacks[7] = (values, {"extra": 1})
    assert pv.wait_for_connection(5)
    pv.force_connect()  # runs the connection callbacks again, now
    ca.replace_access_rights_event(pv.chid)  # runs the channel's access handlers now
    assert conns[-1] is True and access[-1] is True
    pv.run_callbacks()
    assert values.calls[-1]["extra"] == 1 and values.calls[-1]["cb_info"] == (7, pv)
    pv.clear_callbacks(with_access_callback=True, with_connect_callback=True)
    assert (pv.callbacks, pv.access_callbacks, pv.connection_callbacks) == ({}, [], [])


def test_pv_and_subclasses_take_user_attributes(softioc):
    """ophyd and user code set attributes of their own on PV objects."""
    class Tagged(epics.PV):
        def __init__(self, name, **kwargs):
            self.tag = "before"
            super().__init__(name, **kwargs)
            self.tag += ":after"

    pv = Tagged(softioc.pv("ai"))
    pv.note = {"owner": "me"}
    assert pv.wait_for_connection(5) and pv.get() == 3.25
    assert (pv.tag, pv.note, vars(pv)["note"]) == ("before:after", {"owner": "me"},
                                                     {"owner": "me"})


def test_force_connect_reports_a_disconnection(softioc):
    conns = []
    pv = epics.PV(softioc.pv("ai.DESC"),  # a channel of its own: no other PV's events
                  connection_callback=lambda **kw: conns.append(kw["conn"]))
    pv.wait_for_connection(5)
    pv.force_connect(conn=False)
    assert pv.connected is False and conns[-1] is False
    assert pv.wait_for_connection(0.2) is False  # pyepics too: it waits for an event
    pv.force_connect()
    assert pv.connected is True and conns[-1] is True


def test_callbacks_may_use_ca_without_deadlock(softioc):
    """A callback runs on the callback thread; it may get, put and make new PVs."""
    results = {}
    done = threading.Event()
    trigger = epics.PV(softioc.pv("bo"))
    trigger.wait_for_connection(5)

    conns = []

    def on_change(value=None, **kws):
        if value != 0 or done.is_set():
            return
        fresh = epics.PV(softioc.pv("mbbi"),  # new channel, connected from here
                         connection_callback=lambda **kw: conns.append(kw["conn"]))
        results["fresh"] = fresh.get(timeout=2)
        results["ctrl"] = fresh.get_ctrlvars()["enum_strs"]
        results["caget"] = epics.caget(softioc.pv("strin"))
        results["put"] = epics.caput(softioc.pv("long"), 77, wait=True)
        results["long"] = epics.PV(softioc.pv("long")).get()
        done.set()

    trigger.add_callback(on_change)
    trigger.put(0, wait=True)
    assert done.wait(10), results
    assert results == {"fresh": 1, "ctrl": ("Zero", "One", "Two", "Three"),
                       "caget": "read me", "put": 1, "long": 77}
    time.sleep(0.1)
    assert conns == [True]  # once, though handled in place and then queued


def test_pv_used_from_other_threads(softioc):
    pv = epics.PV(softioc.pv("longin"))
    pv.wait_for_connection(5)
    out = []

    def worker():
        out.append(pv.get(use_monitor=False))
        out.append(epics.caget(softioc.pv("strin")))

    threads = [ca.CAThread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(out, key=str) == [42] * 4 + ["read me"] * 4


def test_pv_keeps_its_context_when_used_from_another(softioc):
    pv = epics.PV(softioc.pv("longin"))
    pv.wait_for_connection(5)
    results = {}

    def other_context():
        ca.create_context()
        own = ca.current_context()
        results["other"] = own != pv.context
        results["value"] = pv.get(use_monitor=False)  # switches to pv.context and back
        results["restored"] = ca.current_context() == own
        ca.destroy_context()

    thread = threading.Thread(target=other_context)
    thread.start()
    thread.join(10)
    assert results == {"other": True, "value": 42, "restored": True}


def test_verbose_pv_writes_updates(softioc, capsys):
    pv = epics.PV(softioc.pv("longin"), verbose=True)
    pv.wait_for_connection(5)
    seen = []
    assert wait_for(lambda: seen.append(capsys.readouterr().out) or
                    f"{softioc.pv('longin')}: 42 (" in "".join(seen))
