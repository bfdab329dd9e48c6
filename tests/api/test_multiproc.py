"""CAProcess and CAPool: children that use Channel Access, with fresh contexts."""
from __future__ import annotations

import multiprocessing as mp

import pytest

import epics_compat as epics
from epics_compat import CAPool, CAProcess, ca

pytestmark = pytest.mark.timeout(60)


def read_into(queue, name):
    """Child side: what the parent's PVs and context look like here, and a caget."""
    queue.put((len(epics.pv._PVcache_), ca.current_context(), epics.caget(name, timeout=5)))


def read(name):
    return epics.caget(name, timeout=5)


def test_caprocess_child_reads_with_a_fresh_context(softioc):
    parent_pv = epics.get_pv(softioc.pv("ai"), connect=True)  # cached in the parent
    assert parent_pv.get() == 3.25
    parent_context = ca.current_context()
    queue = mp.Queue()
    child = CAProcess(target=read_into, args=(queue, softioc.pv("longin")))
    child.start()
    cached, context, value = queue.get(timeout=30)
    child.join(30)
    assert child.exitcode == 0
    assert (cached, value) == (0, 42)  # get_pv's cache was cleared in the child
    assert context != parent_context
    assert parent_pv.get(use_monitor=False) == 3.25  # the parent is unaffected


def test_capool_maps_over_pvs(softioc):
    names = [softioc.pv(name) for name in ("ai", "longin", "strin", "mbbi")]
    with CAPool(2) as pool:
        assert pool.map(read, names) == [3.25, 42, "read me", 1]


def test_capool_honours_its_start_method(softioc):
    with CAPool(1, context=mp.get_context("spawn")) as pool:
        assert pool.apply(read, (softioc.pv("longin"),)) == 42
