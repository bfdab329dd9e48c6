"""ca.PREEMPTIVE_CALLBACK = False: callbacks run only inside poll(), pend_event() and
pend_io() (and the blocking calls that wait for them) on the calling thread, as with
libca's non-preemptive context. The same scenario runs through pyepics and ours."""
from __future__ import annotations

import json

import pytest

from pyepics_api import run_script

pytestmark = pytest.mark.timeout(120)

SCENARIO = """
import json, threading, time
epics.ca.PREEMPTIVE_CALLBACK = False
seen = []
def on_change(pvname=None, value=None, **kw):
    seen.append((value, threading.current_thread() is threading.main_thread()))
pv = epics.PV({name!r}, callback=on_change)
connected = pv.wait_for_connection(timeout=5)
epics.poll(evt=0.2)                         # the subscription's first value
first = len(seen)
writer = epics.PV({name!r}, auto_monitor=False)
writer.wait_for_connection(timeout=5)
writer.put(7.5, wait=True)
time.sleep(0.5)                             # the update has arrived, but nobody polled
before_poll = len(seen)
epics.ca.pend_event(0.3)
after_event = list(seen)
writer.put(8.5, wait=True)
time.sleep(0.3)
epics.ca.pend_io(1.0)
after_io = list(seen)
print(json.dumps({{"connected": connected, "first": first, "before_poll": before_poll,
                  "after_event": after_event[before_poll:], "after_io": after_io[len(after_event):],
                  "on_main_thread": all(main for _, main in seen)}}))
"""


def test_callbacks_run_only_when_the_program_polls(softioc):
    name = softioc.pv("ao")
    results = {}
    for lib in ("pyepics", "epics_compat"):
        out = run_script(lib, SCENARIO.format(name=name), softioc.env)
        results[lib] = json.loads(out.strip().splitlines()[-1])
    theirs, ours = results["pyepics"], results["epics_compat"]
    assert theirs["connected"] and ours["connected"]
    # The first value comes in poll(); the update of the first put inside that blocking
    # put, not while the program sleeps; the update of the second in pend_io().
    assert ours["first"] == theirs["first"] == 1, results
    assert ours["before_poll"] == theirs["before_poll"] == 2, results
    assert ours["after_event"] == theirs["after_event"] == [], results
    assert [value for value, _ in ours["after_io"]] == \
        [value for value, _ in theirs["after_io"]] == [8.5], results
    # Ours runs every callback on the program's thread. (pyepics was seen to run the last
    # one on a libca thread, so its threads are not compared.)
    assert ours["on_main_thread"], results
