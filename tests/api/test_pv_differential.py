"""Differential tests: the same pyepics scenarios through pyepics (libca) and through
epics_compat, observing the same things.

Each scenario is a function of the library module, written for pyepics and run
unchanged with ``epics_compat`` in its place. Both run in this process against the same
softIoc; each scenario first puts the records it uses into a known state. What is
compared leaves out only what must differ: the server's host name (libca resolves
'localhost', epics_compat reports the address '127.0.0.1'), times, and channel ids.
"""
from __future__ import annotations

import json
import re
import threading
from pathlib import Path
import time

import epics as pyepics  # the oracle
import pytest

import epics_compat
from ioc import run_python
from paths import TESTS
from pyepics_api import plain, restore, run_script, wait_for

pytestmark = [pytest.mark.differential, pytest.mark.timeout(90)]

WRITTEN = ["ao", "long", "str", "mbbo", "bo", "alarm", "slow", "slow:done", "wchar"]
TIMES = ("timestamp", "posixseconds", "nanoseconds")


@pytest.fixture(scope="module", autouse=True)
def restored_records(softioc):
    with restore(pyepics, [softioc.pv(name) for name in WRITTEN]):
        yield


def both(scenario, *args):
    """(pyepics' observations, epics_compat's observations) of a scenario."""
    return scenario(pyepics, *args), scenario(epics_compat, *args)


def untimed(metadata):
    """Metadata without its times (their types are kept) and without chid/host."""
    out = {}
    for key, value in (metadata or {}).items():
        if key in TIMES:
            out[key] = type(value).__name__
        elif key == "host":
            out[key] = re.sub(r"^[^:]+:", "HOST:", value or "")
        elif key not in ("chid", "cb_info"):
            out[key] = plain(value)
    return out


def settled(pv, timeout=5.0):
    """Wait for a PV's connection, read it once and let the monitor's first update in
    (pyepics drops the update of an empty array: there is nothing else to wait on)."""
    assert pv.wait_for_connection(timeout)
    pv.get()
    time.sleep(0.01)
    return pv


# --- connect and get, in every form --------------------------------------------------------

RECORDS = ["ai", "long", "longin", "int64", "mbbo", "bi", "str", "lsi", "disabled",
           "readonly", "wchar:init", "wdouble:init", "wlong:init", "wlong", "wstring",
           "lstr", "ai.EGU", "ai.SCAN", "mbbo16", "api:wempty"]


def connect_and_get(epics, name):
    out = []
    for form in ("native", "time", "ctrl"):
        pv = settled(epics.PV(name, form=form))
        out.append(("pv", form, pv.type, pv.typefull, pv.count, pv.nelm, pv.ftype,
                    repr(pv), pv.auto_monitor, pv.auto_monitor_mask, pv.put_complete))
        out.append(("get", plain(pv.get()), plain(pv.get(as_numpy=False)),
                    pv.get(as_string=True), pv.char_value, plain(pv.get(count=2))))
        out.append(("metadata", untimed(pv.get_with_metadata(use_monitor=False))))
        for other in ("native", "time", "ctrl"):
            out.append(("as form", other,
                        untimed(pv.get_with_metadata(form=other, use_monitor=False))))
        out.append(("props", pv.units, pv.precision, pv.enum_strs, pv.status, pv.severity,
                    pv.char_status, pv.char_severity, pv.access, pv.read_access,
                    pv.write_access, plain(pv.upper_disp_limit), plain(pv.lower_disp_limit),
                    plain(pv.upper_alarm_limit), plain(pv.lower_warning_limit),
                    plain(pv.upper_ctrl_limit), plain(pv.lower_ctrl_limit)))
        out.append(("namespace", sorted(vars(pv.get_with_metadata(as_namespace=True,
                                                                  use_monitor=False)))))
    return out


def _as_libca_sees_empty_updates(theirs, ours):
    """Deliberate difference: an empty array read in its native type (no metadata) is an
    EVENT_ADD without payload, which libca takes for the acknowledgement of a cancel: it
    drops that update, so a pyepics PV keeps count == nelm and formats its char_value as
    an array of that count. epics_compat delivers the update (count 0, char_value as for
    an empty value). Replace only entries that differ in exactly that way."""
    kept, dropped_by_libca = [], False
    for their, our in zip(theirs, ours):
        same_shape = isinstance(their, tuple) and isinstance(our, tuple) \
            and len(their) == len(our)
        if same_shape and their[:2] == ("pv", "native"):
            dropped_by_libca = (our[:4] == their[:4] and our[4] == 0
                                and their[4] == their[5] and our[5:7] == their[5:7]
                                and our[8:] == their[8:])
            kept.append(their if dropped_by_libca else our)
        elif same_shape and dropped_by_libca and their[0] == "get" \
                and our[:3] == their[:3] and our[5:] == their[5:]:
            kept.append(their)  # only as_string and char_value differ
        else:
            if same_shape and their[0] == "pv":
                dropped_by_libca = False
            kept.append(our)
    return kept + list(ours[len(kept):])


@pytest.mark.parametrize("record", RECORDS)
def test_connect_and_get_every_form(softioc, record):
    theirs, ours = both(connect_and_get, softioc.pv(record))
    assert _as_libca_sees_empty_updates(theirs, ours) == theirs


def cagets(epics, names):
    return [(plain(epics.caget(name)), epics.caget(name, as_string=True),
             plain(epics.caget(name, as_numpy=False)), plain(epics.caget(name, count=1)))
            for name in names]


def test_caget_every_record(softioc):
    theirs, ours = both(cagets, [softioc.pv(record) for record in RECORDS])
    assert ours == theirs


# --- monitors with several callbacks -------------------------------------------------------

def monitors(epics, name):
    epics.caput(name, 0.5, wait=True)
    pv = settled(epics.PV(name))
    pv.get_ctrlvars()
    calls = {"first": [], "second": [], "third": []}

    def first(**kw):
        calls["first"].append(kw)

    def second(pvname=None, value=None, char_value=None, **kw):
        calls["second"].append(dict(kw, pvname=pvname, value=value, char_value=char_value))

    indices = [pv.add_callback(first), pv.add_callback(second, tag="two"),
               pv.add_callback(lambda **kw: calls["third"].append(kw), index=9)]
    for value in (1.25, 2.5, 3.75, 5.0):
        pv.put(value, wait=True)
    assert wait_for(lambda: all(len(c) == 4 for c in calls.values()))
    pv.remove_callback(indices[0])
    pv.put(6.25, wait=True)
    assert wait_for(lambda: len(calls["second"]) == 5)
    time.sleep(0.05)
    out = [("indices", indices, sorted(pv.callbacks))]
    for key, seen in calls.items():
        out.append((key, [(call["cb_info"][0], call["cb_info"][1] is pv, untimed(call))
                          for call in seen]))
    pv.clear_callbacks()
    return out


def test_monitors_with_several_callbacks(softioc):
    theirs, ours = both(monitors, softioc.pv("ao"))
    assert ours == theirs


# --- puts with completion and callbacks ----------------------------------------------------

def puts(epics, prefix):
    out = []
    slow = settled(epics.PV(prefix + "slow"))
    start = time.monotonic()
    out.append(("wait", slow.put(1, wait=True), time.monotonic() - start > 0.4))
    out.append(("timeout", slow.put(2, wait=True, timeout=0.05)))
    time.sleep(0.6)
    done = threading.Event()
    results = []

    def on_done(**kw):
        results.append(sorted(kw.items()))
        done.set()

    out.append(("use_complete", slow.put(3, use_complete=True, callback=on_done,
                                         callback_data={"a": 1}), slow.put_complete))
    assert done.wait(5)
    assert wait_for(lambda: slow.put_complete)
    out.append(("completed", slow.put_complete, results))
    done.clear()
    out.append(("callback", slow.put(4, callback=on_done, callback_data="data")))
    assert done.wait(5)
    out.append(("called", results[-1], slow.put_complete))
    # Read back from the server: whether the monitor's update for a put is in when
    # put(wait=True) returns is a race with libca (pyepics loses it now and then, seen
    # here); epics_compat reads back when the update has not come (test_pv_basic).
    enum = settled(epics.PV(prefix + "mbbo"))
    out.append(("enum", enum.put("Three", wait=True), enum.get(use_monitor=False),
                enum.char_value, enum.put(1, wait=True),
                enum.get(as_string=True, use_monitor=False),
                enum.put("2", wait=True), enum.get(use_monitor=False)))
    string = settled(epics.PV(prefix + "str"))
    out.append(("string", string.put("text", wait=True), string.get(use_monitor=False)))
    chars = settled(epics.PV(prefix + "api:chars"))
    out.append(("chars", chars.put("char text", wait=True),
                chars.get(as_string=True, use_monitor=False)))
    readonly = settled(epics.PV(prefix + "readonly"))
    try:
        out.append(("readonly", readonly.put(1.0)))
    except Exception as exc:
        out.append(("readonly raised", type(exc).__name__))
    # caget reads the server: pyepics' cached value right after caput(wait=True) is the
    # same race as above (seen in CI: the older value; README lists the difference).
    out.append(("caput", epics.caput(prefix + "long", 12, wait=True),
                epics.caget(prefix + "long", use_monitor=False),
                epics.caput(prefix + "long", "13"),
                wait_for(lambda: epics.caget(prefix + "long") == 13)))
    return out


def test_puts_with_completion_and_callbacks(softioc):
    theirs, ours = both(puts, softioc.prefix)
    assert ours == theirs


# --- connection and access callbacks, get_pv's cache --------------------------------------

def connection_callbacks(epics, prefix, record):
    # get_pv's cache is per context: other tests in this process may have left the main
    # thread on another pyepics context, which would make get_pv build a new PV here.
    epics.ca.use_initial_context()
    name = prefix + record
    conns, access, access2, conns2 = [], [], [], []
    pv = epics.PV(name, connection_callback=lambda **kw: conns.append(sorted(kw)),
                  access_callback=lambda r, w, pv=None: access.append((r, w, pv is not None)))
    settled(pv)
    assert wait_for(lambda: access and conns)
    # How often libca repeats an access-rights event varies (it may call a handler
    # installed on a connected channel again later): compare what was reported.
    out = [("first", list(conns), sorted(set(access)))]
    cached = epics.get_pv(name, connect=True)
    again = epics.get_pv(name, connection_callback=lambda **kw: conns2.append(sorted(kw)),
                         access_callback=lambda r, w, pv=None: access2.append((r, w)))
    time.sleep(0.1)
    out.append(("cache", again is cached, cached is pv, list(conns), sorted(set(access)),
                list(conns2), sorted(set(access2))))
    seen = []
    epics.get_pv(name, callback=lambda **kw: seen.append(kw["value"]))
    out.append(("callback on cached", plain(seen)))
    return out


@pytest.mark.parametrize("record", ["api:bo", "api:readonly"])
def test_connection_and_access_callbacks(softioc, record):
    # Each library in a fresh process: get_pv's cache and libca's contexts in this one
    # carry state from earlier tests, which made the pyepics side differ in full runs.
    code = ("import json, os, sys\n"
            f"sys.path[:0] = [{str(TESTS)!r}, {str(Path(__file__).resolve().parent)!r}]\n"
            "import epics_compat, epics as pyepics\n"
            "from test_pv_differential import connection_callbacks\n"
            "lib = pyepics if LIB == 'pyepics' else epics_compat\n"
            f"print(json.dumps(connection_callbacks(lib, {softioc.prefix!r}, {record!r})))\n")
    theirs, ours = (json.loads(run_python(f"LIB = {lib!r}\n" + code, softioc.env)
                               .splitlines()[-1]) for lib in ("pyepics", "epics_compat"))
    assert ours == theirs


# --- Device save/restore, Alarm trips -----------------------------------------------------

def device_state(epics, prefix, tmp_path):
    # A known, non-empty value: an empty char array differs between the libraries
    # (libca drops its empty update), and other tests leave wchar as they like.
    epics.caput(prefix + "wchar", "device", wait=True)
    epics.caput(prefix + "ao", 1.5, wait=True)
    epics.caput(prefix + "str", "state", wait=True)
    dev = epics.Device(prefix, attrs=("ao", "long", "str", "mbbo", "readonly", "wchar"),
                       aliases={"volts": "ao"})
    for attr in ("ao", "long", "str", "mbbo", "readonly", "wchar"):
        settled(dev.PV(attr))
    out = [("repr", repr(dev)), ("alias", dev.volts, dev.ao),
           ("dir", sorted(set(dir(dev)) & {"volts", "ao", "long", "save_state", "PV"}))]
    state = dev.save_state()
    out.append(("saved", plain(state)))
    for attr, value in (("ao", -2.0), ("long", 99), ("str", "changed"), ("mbbo", 0)):
        dev.put(attr, value, wait=True)
    dev.volts = 2.75
    assert wait_for(lambda: dev.ao == 2.75)
    dev.restore_state(state)
    assert wait_for(lambda: dev.ao == state["ao"])
    time.sleep(0.1)
    out.append(("restored", plain(dev.save_state())))
    path = tmp_path / f"{epics.__name__}.state"
    dev.write_state(str(path))
    lines = path.read_text().splitlines()
    out.append(("file", lines[0].split(",time=")[0], lines[1:]))
    out.append(("read", plain(dev.read_state(str(path)))))
    return out


def test_device_save_restore(softioc, tmp_path):
    theirs, ours = both(device_state, softioc.prefix, tmp_path)
    assert ours == theirs


def alarm_trips(epics, name):
    epics.caput(name, 0, wait=True)
    calls = []
    alarm = epics.Alarm(name, comparison="gt", trip_point=5, alert_delay=0,
                        callback=lambda **kw: calls.append(kw))
    for value in (6, 7, 1, 9, -9, 6):
        epics.caput(name, value, wait=True)
        time.sleep(0.05)
    assert wait_for(lambda: len(calls) >= 3)
    time.sleep(0.1)
    return [repr(alarm)] + [untimed(call) for call in calls]


def test_alarm_trips(softioc):
    theirs, ours = both(alarm_trips, softioc.pv("alarm"))
    assert ours == theirs
    assert [(call["value"], call["severity"], call["status"]) for call in ours[1:]] == [
        (6.0, 1, 4), (9.0, 2, 3), (6.0, 1, 4)]


# --- cainfo, camonitor, caget_many, caput_many --------------------------------------------

def cainfo_reports(epics, names):
    out = []
    for name in names:
        text = epics.cainfo(name, print_out=False)
        for line in text.splitlines():
            line = re.sub(r"(host\s+= )\S+:", r"\1HOST:", line)
            # The user callbacks listed are those of get_pv()'s cached PV, which other
            # tests of this process may have added to.
            line = re.sub(r"with \d+ user-defined", "with N user-defined", line)
            if not re.match(r"   (timestamp|posixseconds|nanoseconds) |      \S+ in file ",
                            line):
                out.append(line)
    return out


def test_cainfo_prints_the_same_report(softioc):
    names = [softioc.pv(record) for record in ("ai", "mbbi", "strin", "wdouble:init",
                                               "wchar:init", "longin", "wlong", "bi",
                                               "int64", "disabled")]
    theirs, ours = both(cainfo_reports, names)
    assert ours == theirs


def camonitor_lines(epics, name):
    epics.caput(name, 0, wait=True)
    lines = []
    epics.camonitor(name, writer=lines.append)
    for value in (11, 12, 13):
        epics.caput(name, value, wait=True)
    assert wait_for(lambda: len(lines) >= 3 and lines[-1].endswith(" 13"))
    epics.camonitor_clear(name)
    epics.caput(name, 14, wait=True)
    time.sleep(0.1)
    # The server may send the update of the first put after its completion, so in either
    # library that update (value 0) can arrive just after camonitor started, or before.
    if lines and lines[0].endswith(" 0"):
        del lines[0]
    return [re.sub(r" \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{5} ", " TIME ", line)
            for line in lines]


def test_camonitor(softioc):
    theirs, ours = both(camonitor_lines, softioc.pv("long"))
    assert ours == theirs


def many(epics, prefix):
    names = [prefix + n for n in ("ai", "longin", "strin", "mbbi", "nothing", "wlong:init",
                                  "wchar:init")]
    out = [plain(epics.caget_many(names, connection_timeout=0.5)),
           plain(epics.caget_many(names, as_string=True, connection_timeout=0.5)),
           plain(epics.caget_many(names[:4], as_numpy=False))]
    writes = [prefix + n for n in ("api:ao", "api:long", "nothing")]
    out.append(epics.caput_many(writes, [1.5, 3, 0], connection_timeout=0.3))
    out.append(epics.caput_many(writes[:2], [2.5, 4], wait="each"))
    out.append(epics.caput_many([prefix + "slow", writes[0]], [5, 3.5], wait="all"))
    out.append(plain(epics.caget_many(writes[:2])))
    return out


def test_caget_many_and_caput_many(softioc):
    theirs, ours = both(many, softioc.prefix)
    assert ours == theirs


# --- a pyepics script, unchanged, run as a program with each library -----------------------

SCRIPT = """
import json, time
out = {}
p = epics.PV(P + "ao")
out["connected"] = p.wait_for_connection(5)
out["put"] = p.put(3.5, wait=True)
out["get"] = p.get()
out["value"] = p.value
out["char"] = p.char_value
out["repr"] = repr(p)
out["caget"] = epics.caget(P + "mbbi", as_string=True)
out["caput"] = epics.caput(P + "ao", 1.5, wait=True)
out["wave"] = epics.caget(P + "wlong:init").tolist()
seen = []
m = epics.PV(P + "long", callback=lambda value=None, **kw: seen.append(value))
m.wait_for_connection(5)
for v in (1, 2, 3):
    m.put(v, wait=True)
t0 = time.time()
while len(seen) < 4 and time.time() - t0 < 5:
    time.sleep(0.01)
out["seen"] = seen[-3:]
dev = epics.Device(P, attrs=("ao", "str"))
out["device"] = dev.save_state()
out["info"] = [line for line in epics.cainfo(P + "mbbi", print_out=False).splitlines()
               if "host" not in line and "stamp" not in line and "seconds" not in line]
out["version_ok"] = tuple(int(x) for x in epics.__version__.split("+")[0].split(".")) >= (3, 4, 2)
print(json.dumps(out))
"""


def test_same_script_as_a_program(softioc):
    code = f"P = {softioc.prefix!r}\n" + SCRIPT
    theirs = json.loads(run_script("pyepics", code, softioc.env).splitlines()[-1])
    ours = json.loads(run_script("epics_compat", code, softioc.env).splitlines()[-1])
    assert ours == theirs
    assert ours["seen"] == [1, 2, 3] and ours["caget"] == "One"
