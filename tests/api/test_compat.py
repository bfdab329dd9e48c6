"""epics_compat.compat: what pyepics' ``epics.compat`` offers, against the softIoc.

pyepics' epicsPV cannot be made (its constructor raises NameError), so ours is checked
against the PV methods it stands on; its names and signatures are pyepics'.
"""
from __future__ import annotations

import inspect

import pytest
from epics.compat import epicsPV as TheirEpicsPV

import epics_compat as epics
from epics_compat.compat import epicsPV
from pyepics_api import restore, wait_for

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def ao(softioc):
    with restore(epics, [softioc.pv("ao")]):
        yield softioc.pv("ao")


def test_pyepics_epicspv_cannot_be_made():
    with pytest.raises(NameError):
        TheirEpicsPV("never:made", wait=False)


def test_epicspv_has_pyepics_methods_and_signatures():
    for name, member in vars(TheirEpicsPV).items():
        if callable(member):
            assert inspect.signature(member) == inspect.signature(getattr(epicsPV, name))


def test_epicspv_reads_writes_and_waits(ao):
    pv = epicsPV(ao)
    assert pv.connected and isinstance(pv, epics.PV)
    pv.putWait(2.25)
    assert pv.getw() == pv.getValue() == pv.array_get() == 2.25
    pv.putw(3.5, wait=True)
    assert epics.caget(ao, use_monitor=False) == 3.5
    control = pv.getControl()
    assert control["units"] == "V" and control["precision"] == 2
    assert control["upper_ctrl_limit"] == 10.0


def test_epicspv_monitor_flag(ao):
    pv = epicsPV(ao)
    assert wait_for(lambda: pv.get() is not None)  # the subscription's first value
    pv.setMonitor()
    assert pv.checkMonitor() is False
    epics.caput(ao, 4.0, wait=True)
    assert wait_for(pv.checkMonitor)
    assert pv.checkMonitor() is False
    epics.caput(ao, 5.0, wait=True)
    assert wait_for(lambda: pv.get() == 5.0)
    pv.clearMonitor()
    assert pv.checkMonitor() is False


def test_epicspv_without_wait_connects_later(softioc):
    pv = epicsPV(softioc.pv("ai"), wait=False)
    assert pv.wait_for_connection(timeout=5)
    assert pv.getw() == 3.25


def test_ca_util_and_cachannel_hold_nothing_as_in_pyepics():
    """pyepics keeps both APIs as unexecuted text: nothing to import from them."""
    with pytest.raises(ImportError):
        from epics_compat.compat.ca_util import caget  # noqa: F401
    with pytest.raises(ImportError):
        from epics_compat.compat.CaChannel import CaChannel  # noqa: F401
