"""Device, Alarm and autosave of epics_compat against the softIoc."""
from __future__ import annotations

import threading
import time

import pytest

import epics_compat as epics
from epics_compat import Alarm, Device
from epics_compat.autosave import AutoSaver, restore_pvs, save_pvs
from pyepics_api import restore, wait_for

pytestmark = pytest.mark.timeout(60)

WRITTEN = ["ao", "long", "str", "mbbo", "bo", "alarm", "wchar"]


@pytest.fixture(scope="module", autouse=True)
def restored_records(softioc):
    with restore(epics, [softioc.pv(name) for name in WRITTEN]):
        yield


# --- Device ---------------------------------------------------------------------------------

def test_device_attributes_get_and_put(softioc):
    dev = Device(softioc.prefix, attrs=("ao", "long"))
    assert repr(dev) == f"<Device '{softioc.prefix}', 2 attributes>"
    assert dev.PV("ao").pvname == softioc.pv("ao")
    dev.ao = 2.5  # a put
    assert wait_for(lambda: dev.ao == 2.5)
    assert dev.put("long", 17, wait=True) == 1 and dev.get("long") == 17
    assert dev.get("mbbi", as_string=True) == "One"  # not in attrs: made on first use
    assert dev.longin == 42
    assert len(dev._pvs) == 4


def test_device_with_delimiter_and_aliases(softioc):
    dev = Device(softioc.pv("ai"), delim=".", aliases={"units": "EGU", "desc": "DESC"})
    assert repr(dev) == f"<Device '{softioc.pv('ai')}', 2 attributes>"
    assert dev.units == "mm" and dev.EGU == "mm"
    assert dev.desc == "analog input"
    assert dev.VAL == 3.25 and dev.PV("VAL").pvname == softioc.pv("ai") + ".VAL"
    names = dir(dev)
    assert {"units", "desc", "EGU", "DESC", "VAL", "save_state", "put", "PV"} <= set(names)


def test_immutable_device_refuses_unknown_attributes_without_ca(softioc):
    dev = Device(softioc.prefix, attrs=("ao",), mutable=False)
    start = time.monotonic()
    with pytest.raises(AttributeError, match="Device has no attribute nosuch"):
        dev.nosuch
    with pytest.raises(AttributeError):
        dev.nosuch = 1
    assert time.monotonic() - start < 0.1 and "nosuch" not in dev._pvs
    assert dev.ao == epics.caget(softioc.pv("ao"))


def test_interactive_probes_do_not_make_pvs(softioc):
    dev = Device(softioc.prefix)
    for name in ("_ipython_canary_method_should_not_exist_", "_repr_html_",
                 "_ipython_display_", "__wrapped__"):
        assert not hasattr(dev, name)
    assert dev._pvs == {}


def test_nonpvs_are_plain_attributes(softioc):
    dev = Device(softioc.prefix, nonpvs=("label",))
    dev.label = "my device"
    assert dev.label == "my device" and "label" not in dev._pvs


def test_save_and_restore_state(softioc):
    dev = Device(softioc.prefix, attrs=("ao", "long", "str", "mbbo", "wchar", "readonly"))
    for attr in ("ao", "long", "str", "mbbo", "wchar"):
        dev.PV(attr).wait_for_connection(5)
    dev.put("ao", 1.25, wait=True)
    dev.put("wchar", "saved text", wait=True)
    state = dev.save_state()
    # As in pyepics, a char waveform stays an array: PV.type is 'time_char', not 'char'.
    chars = state.pop("wchar")
    assert bytes(chars[:10]) == b"saved text"
    assert state == {"ao": 1.25, "long": dev.long, "str": dev.str, "mbbo": dev.mbbo,
                     "readonly": 7.0}
    state["wchar"] = "saved text"
    for attr, value in (("ao", -3.0), ("long", 5), ("str", "changed"), ("mbbo", 0),
                        ("wchar", "other")):
        dev.put(attr, value, wait=True)
    dev.restore_state(state)  # puts without wait; the read-only PV is skipped
    assert wait_for(lambda: (dev.ao, dev.str, dev.long, dev.mbbo) == (
        1.25, state["str"], state["long"], state["mbbo"]))
    assert wait_for(lambda: dev.get("wchar", as_string=True) == "saved text")


def test_write_and_read_state_file(softioc, tmp_path):
    dev = Device(softioc.prefix, attrs=("ao", "long", "str", "mbbo", "readonly"))
    for attr in dev._pvs:
        dev.PV(attr).wait_for_connection(5)
    dev.put("ao", 4.5, wait=True)
    dev.put("str", "two words", wait=True)
    path = tmp_path / "state.txt"
    dev.write_state(str(path))
    lines = path.read_text().splitlines()
    assert lines[0].startswith(f"#Device Saved State for Device,prefix='{softioc.prefix}',")
    assert "ao 4.5" in lines and "str two words" in lines
    assert not any(line.startswith("readonly") for line in lines)  # not writable
    dev.put("ao", 0.5, wait=True)
    state = dev.read_state(str(path), restore=True)
    # As in pyepics, only 'double', 'int', ... convert: 'time_double' PVs give text.
    assert (state["ao"], state["str"], state["long"]) == ("4.5", "two words",
                                                          str(dev.long))
    assert wait_for(lambda: dev.ao == 4.5)


def test_device_callbacks(softioc):
    dev = Device(softioc.prefix, attrs=("long",))
    seen = []
    index = dev.add_callback("long", lambda value=None, **kw: seen.append(value))
    dev.put("long", 31, wait=True)
    assert wait_for(lambda: 31 in seen)
    dev.remove_callbacks("long", index=index)
    dev.put("long", 32, wait=True)
    time.sleep(0.1)
    assert 32 not in seen


def test_pv_property_in_a_subclass(softioc):
    class Analog(Device):
        value = Device.pv_property("VAL", wait=True)
        egu = Device.pv_property("EGU", as_string=True)

        def __init__(self, name):
            Device.__init__(self, name, delim=".", attrs=("VAL", "EGU"))

    dev = Analog(softioc.pv("ao"))
    dev.value = 3.5
    assert dev.value == 3.5 and dev.egu == "V"
    assert "egu" in dir(dev)


# --- Alarm -----------------------------------------------------------------------------------

def test_alarm_trips_on_rising_edge(softioc):
    name = softioc.pv("alarm")
    epics.caput(name, 0, wait=True)
    calls = []
    tripped = threading.Event()

    def on_alarm(**kw):
        calls.append(kw)
        tripped.set()

    alarm = Alarm(name, comparison=">", trip_point=5, callback=on_alarm, alert_delay=0)
    assert repr(alarm) == f"<Alarm pvname='{name}',comp='>','trip_point=5>"
    epics.caput(name, 6, wait=True)  # HIGH / MINOR
    assert tripped.wait(5)
    call = calls[0]
    assert (call["pvname"], call["value"], call["trip_point"], call["comparison"]) == (
        name, 6.0, 5, ">")
    assert (call["severity"], call["status"]) == (1, 4)
    assert call["char_value"] == "6.0"
    epics.caput(name, 7, wait=True)  # still above: no new alert
    epics.caput(name, 1, wait=True)
    epics.caput(name, 9, wait=True)  # above again: alerts (alert_delay 0)
    assert wait_for(lambda: len(calls) == 2)
    assert calls[1]["value"] == 9.0 and calls[1]["severity"] == 2
    alarm.reset()
    assert alarm.alarm_state is False and alarm.last_alert == 0


def test_alarm_delay_named_and_callable_comparisons(softioc, capsys):
    name = softioc.pv("alarm")
    epics.caput(name, 0, wait=True)
    pv = epics.get_pv(name, connect=True)
    named = Alarm(pv, comparison="ge", trip_point=2, alert_delay=60)  # prints instead
    calls = []
    custom = Alarm(name, comparison=lambda value, trip: abs(value) > trip, trip_point=3,
                   callback=lambda **kw: calls.append(kw["value"]))
    assert (named.comp_name, custom.comp_name) == ("ge", "<lambda>")
    epics.caput(name, 4, wait=True)
    assert wait_for(lambda: calls == [4.0])
    assert wait_for(lambda: "Alarm: " in capsys.readouterr().out)
    epics.caput(name, 0, wait=True)
    epics.caput(name, 4, wait=True)  # second rising edge within alert_delay: quiet
    assert wait_for(lambda: named.alarm_state and custom.alarm_state)
    time.sleep(0.1)
    assert calls == [4.0] and "Alarm: " not in capsys.readouterr().out
    with pytest.raises(UserWarning):
        Alarm(name)


# --- autosave -----------------------------------------------------------------------------

def test_autosave_round_trip(softioc, tmp_path):
    (tmp_path / "inner.req").write_text("# included\n$(P)$(R)\n$(P)str\n")
    (tmp_path / "main.req").write_text(
        f"{softioc.pv('ao')}\n{softioc.pv('mbbo')}\n"
        f"file inner.req P={softioc.prefix},R=long\n"
        f"{softioc.pv('wlong:init')}\n{softioc.pv('absent')}\n")
    epics.caput(softioc.pv("ao"), 2.25, wait=True)
    epics.caput(softioc.pv("str"), "kept", wait=True)
    saver = AutoSaver(str(tmp_path / "main.req"))
    assert [pv.pvname for pv in saver.pvs] == [softioc.pv(n) for n in (
        "ao", "mbbo", "long", "str", "wlong:init", "absent")]
    for pv in saver.pvs[:-1]:
        pv.wait_for_connection(5)
    saver.pvs[-1].connection_timeout = 0.2
    save_file = tmp_path / "main.sav"
    saver.save(str(save_file))
    lines = save_file.read_text().splitlines()
    assert lines[0].startswith("# File saved by pyepics AutoSaver.save() on ")
    assert f"{softioc.pv('ao')} 2.25" in lines and f"{softioc.pv('str')} kept" in lines
    assert f"{softioc.pv('wlong:init')} @array@ [1, 2, 3, 4, 5]" in lines
    assert lines[-1] == "<END>" and not any("absent" in line for line in lines)

    epics.caput(softioc.pv("ao"), -1.0, wait=True)
    epics.caput(softioc.pv("str"), "lost", wait=True)
    assert restore_pvs(str(save_file)) is True
    assert wait_for(lambda: epics.caget(softioc.pv("ao"), use_monitor=False) == 2.25)
    assert epics.caget(softioc.pv("str"), use_monitor=False) == "kept"

    save_pvs(str(tmp_path / "main.req"), str(tmp_path / "again.sav"))
    assert (tmp_path / "again.sav").read_text().splitlines()[2:] == lines[2:]
