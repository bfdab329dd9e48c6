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
puts = []
for value in (7.5, 8.5):
    writer.put(value, wait=True)            # its update may come inside it, or after it
    after_put = len(seen)
    time.sleep(0.5)                         # by now it has arrived, but nobody polled
    after_sleep = len(seen)
    epics.ca.pend_io(1.0)                   # no request outstanding: runs no callback
    after_io = len(seen)
    epics.ca.pend_event(0.3)
    puts.append({{"after_put": after_put, "after_sleep": after_sleep, "after_io": after_io,
                 "after_event": len(seen)}})
print(json.dumps({{"connected": connected, "first": first, "puts": puts,
                  "values": [value for value, _ in seen],
                  "on_main_thread": all(main for _, main in seen)}}))
"""


def test_callbacks_run_only_when_the_program_polls(softioc):
    name = softioc.pv("ao")
    results = {}
    for lib in ("pyepics", "epics_compat"):
        out = run_script(lib, SCENARIO.format(name=name), softioc.env)
        results[lib] = json.loads(out.strip().splitlines()[-1])
    for lib, got in results.items():
        assert got["connected"], results
        # The first value comes in poll(). A put's update comes inside the blocking put
        # or, when the server sends it after the completion (the order is the server's),
        # in the next pend_event(): never while the program sleeps, nor in a pend_io()
        # with nothing outstanding.
        assert got["first"] == 1, (lib, results)
        for count, put in enumerate(got["puts"], start=2):
            assert put["after_put"] in (count - 1, count), (lib, results)
            assert put["after_sleep"] == put["after_put"], (lib, results)
            assert put["after_io"] == put["after_sleep"], (lib, results)
            assert put["after_event"] == count, (lib, results)
        assert got["values"][1:] == [7.5, 8.5], (lib, results)
    # Ours runs every callback on the program's thread. (pyepics was seen to run the last
    # one on a libca thread, so its threads are not compared.)
    assert results["epics_compat"]["on_main_thread"], results
