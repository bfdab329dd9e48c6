"""A monitored PV with no user callback keeps its updates on the thread that received
them, so that put(wait=True) returns without a hand-off to the callback thread; updates
stay in order when callbacks come and go while some wait in the callback queue; get()
returns the kept value of a monitored scalar, through a subclass's get_with_metadata if
it has one."""
from __future__ import annotations

import gc
import threading
import time
import types

import pytest

import epics_compat as epics
from epics_compat import ca
from pyepics_api import restore, wait_for

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module", autouse=True)
def restored_records(softioc):
    with restore(epics, [softioc.pv("ao")]):
        yield


def dispatcher():
    return ca._context_object(ca.current_context()).dispatcher


def test_put_wait_on_a_pv_without_callbacks_leaves_nothing_to_the_callback_thread(softioc):
    pv = epics.PV(softioc.pv("ao"))
    assert pv.wait_for_connection(timeout=5)
    assert wait_for(lambda: pv.value is not None)
    subscription = pv._monref[2]  # the context's record of the PV's monitor
    for value in (1.25, 2.25, 3.25):  # within the record's drive limits
        assert pv.put(value, wait=True) == 1
        assert pv.get() == value
    # Every update was kept by the thread that received it: none was queued.
    assert wait_for(lambda: pv._args["value"] == 3.25)
    assert subscription.queued_in is None
    pv.disconnect()


def test_updates_queued_for_a_callback_removed_meanwhile_are_not_overtaken(softioc):
    """Updates 2 and 3 wait behind a blocked callback when the callback is removed; 4 and
    5 then come with nothing to call: they must wait their turn too, or 3 would be the
    value kept last."""
    name = softioc.pv("ao")
    writer = epics.PV(name, auto_monitor=False)
    assert writer.wait_for_connection(timeout=5)
    writer.put(0.0, wait=True)
    release, blocked, seen = threading.Event(), threading.Event(), []

    def slow(value=None, **kw):
        seen.append(value)
        if value == 1.0:
            blocked.set()
            release.wait(10)

    pv = epics.PV(name)
    assert pv.wait_for_connection(timeout=5)
    assert wait_for(lambda: pv.value == 0.0)
    index = pv.add_callback(slow, with_ctrlvars=False)
    writer.put(1.0, wait=True)
    assert blocked.wait(5)
    for value in (2.0, 3.0):
        writer.put(value, wait=True)
    pv.remove_callback(index)
    for value in (4.0, 5.0):
        writer.put(value, wait=True)
    time.sleep(0.3)  # the updates of 4.0 and 5.0 are in by now
    release.set()
    assert wait_for(dispatcher().idle)
    assert seen == [1.0]  # 2.0 and 3.0 ran after the callback had gone
    assert pv.get() == 5.0
    assert pv.get(use_monitor=False) == 5.0
    # All of them ran: the next update is kept on receipt again, not queued.
    subscription = pv._monref[2]
    batch = subscription.queued_in
    assert batch == []
    writer.put(6.0, wait=True)
    assert wait_for(lambda: pv.get() == 6.0)
    assert subscription.queued_in is batch
    pv.disconnect()
    writer.disconnect()


def test_get_of_a_monitored_scalar_still_calls_a_subclass_get_with_metadata(softioc):
    """get() returns a monitored scalar's kept value directly, unless a subclass
    overrides get_with_metadata: then it is called, as pyepics' get() calls it."""
    calls = []

    class Logged(epics.PV):
        def get_with_metadata(self, **kw):
            calls.append(kw)
            return super().get_with_metadata(**kw)

    pv = Logged(softioc.pv("ao"))
    assert pv.wait_for_connection(timeout=5)
    assert wait_for(lambda: pv.get() is not None)
    calls.clear()
    assert pv.get() == pv.get_with_metadata()["value"]
    assert len(calls) == 2
    pv.disconnect()


def test_the_monitor_of_a_pv_keeps_no_bound_method_of_it(softioc):
    """The auto-monitor calls the PV itself: each bound method kept would be one more
    object per PV for the garbage collector (full collections were a quarter of the time
    to connect 50,000 PVs)."""
    pv = epics.PV(softioc.pv("ao"))
    assert pv.wait_for_connection(timeout=5)
    assert wait_for(lambda: pv.get() is not None)
    handler, _, subscription = pv._monref
    kept = gc.get_referents(handler) + gc.get_referents(subscription)
    assert pv in kept and handler in kept
    assert not [item for item in kept if isinstance(item, types.MethodType)]
    for value in (1.5, 2.5):  # and it still keeps the updates a put brings
        assert pv.put(value, wait=True) == 1
        assert pv.get() == value
    pv.disconnect()
