"""Large messages are received into buffers that are reused once nothing refers to them
(no page faults for each 8 MB get), and never while a message or a value still does."""
from __future__ import annotations

import threading

import numpy as np

from epics_compat._large_buffers import LargeBuffers
import epics_compat.ca as eca

from ca_compare import connected


def test_a_buffer_is_reused_only_when_no_view_of_it_is_alive():
    pool = LargeBuffers()
    first = pool.take(1 << 20)
    first[:4] = b"abcd"
    kept = first[:4]  # as a message's payload is a slice of its buffer
    del first
    second = pool.take(1 << 20)
    assert kept.obj is not second.obj and bytes(kept) == b"abcd"
    del second
    third = pool.take(1 << 20)
    assert kept.obj is not third.obj  # the free one of the two kept
    del kept, third
    fourth = pool.take(1 << 20)
    assert len(fourth) == 1 << 20


def test_a_kept_buffer_serves_sizes_up_to_twice_smaller_only():
    pool = LargeBuffers()
    big = pool.take(1 << 20)
    owner = id(big.obj)  # not the object: a reference would keep it from being reused
    del big
    smaller = pool.take(600_000)
    assert id(smaller.obj) == owner and len(smaller) == 600_000
    del smaller
    assert id(pool.take(100_000).obj) != owner  # 10x too large to hold for it


def test_successive_large_gets_keep_their_own_values(softioc):
    chid = connected(eca, softioc.pv("wbig"))
    values = []
    for scale in (1.0, 2.0, 3.0, 4.0):
        assert eca.put(chid, np.arange(1_000_000) * scale, wait=True, timeout=20) == 1
        values.append(eca.get(chid, timeout=20))
    for scale, value in zip((1.0, 2.0, 3.0, 4.0), values):
        assert np.array_equal(value, np.arange(1_000_000) * scale)


def test_a_get_lets_go_of_the_last_reply_so_one_buffer_serves_successive_gets(softioc):
    found = {}

    def in_a_context_of_its_own():  # a circuit that no other test's replies hold on to
        eca.create_context()
        try:
            chid = connected(eca, softioc.pv("wbig"))
            assert eca.put(chid, np.arange(1_000_000, dtype=float), wait=True,
                           timeout=20) == 1
            found["last"] = [eca.get(chid, timeout=20)[-1] for _ in range(4)]
            channel = eca._chid_cache[eca._chid_to_int(chid)].channel
            found["buffers"] = len(channel.circuit.large_buffers._kept)
        finally:
            eca.destroy_context()

    thread = threading.Thread(target=in_a_context_of_its_own)
    thread.start()
    thread.join(60)
    assert found == {"last": [999_999.0] * 4, "buffers": 1}
