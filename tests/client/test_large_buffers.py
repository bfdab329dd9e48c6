"""Large messages are received into buffers that are reused once nothing refers to them
(no page faults for each 8 MB get), and never while a message, a value or a view of a
value still does. Numbers are converted where they arrived: that memory is the values'."""
from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

import caproto_core as core
from caproto_core import ArrivingValues
from epics_compat import _large_buffers, aioca
from epics_compat._large_buffers import LARGE, LargeBuffers
from epics_compat._tcp_circuit import _joined
import epics_compat.ca as eca

from ca_compare import connected, wait_for
from reliability import DOUBLE, RawServer

MILLION = np.arange(1_000_000, dtype=float)


@pytest.fixture
def values_pool(monkeypatch):
    """A pool of value memory of this test's own (the module's is shared by all)."""
    pool = LargeBuffers(_large_buffers.KEEP_VALUES)
    monkeypatch.setattr(_large_buffers, "_values", pool)
    return pool


def memory_of(value) -> int:
    """Which pooled buffer a value lives in (its id: a reference would keep it)."""
    base = value
    while not isinstance(base, memoryview):
        base = base.base
    return id(base.obj)


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


def test_large_replies_and_updates_are_converted_while_they_arrive(softioc, monkeypatch):
    finished = []
    finish = ArrivingValues.finish

    def recorded(arriving, message):
        finished.append((type(message).__name__, finish(arriving, message)))
        return finished[-1][1]

    monkeypatch.setattr(ArrivingValues, "finish", recorded)
    chid = connected(eca, softioc.pv("wbig"))
    assert eca.put(chid, MILLION * 3, wait=True, timeout=20) == 1
    assert np.array_equal(eca.get(chid, timeout=20), MILLION * 3)
    updates = []
    handle = eca.create_subscription(
        chid, callback=lambda value=None, **kw: updates.append(value))
    try:
        assert wait_for(lambda: updates, 20)
    finally:
        eca.clear_subscription(handle[2])
    assert np.array_equal(updates[0], MILLION * 3)
    assert ("ReadNotifyResponse", True) in finished
    assert ("EventAddResponse", True) in finished


def test_a_get_lets_go_of_the_last_reply_so_one_buffer_serves_successive_gets(
        softioc, values_pool):
    found = {}

    def in_a_context_of_its_own():  # a circuit that no other test's replies hold on to
        eca.create_context()
        try:
            chid = connected(eca, softioc.pv("wbig"))
            assert eca.put(chid, np.arange(1_000_000, dtype=float), wait=True,
                           timeout=20) == 1
            found["last"] = [eca.get(chid, timeout=20)[-1] for _ in range(4)]
            channel = eca._chid_cache[eca._chid_to_int(chid)].channel
            # Numbers to convert go into value memory; the circuit's own buffers are for
            # large messages of strings or bytes.
            found["buffers"] = (len(values_pool._kept),
                                len(channel.circuit.large_buffers._kept))
        finally:
            eca.destroy_context()

    thread = threading.Thread(target=in_a_context_of_its_own)
    thread.start()
    thread.join(60)
    assert found == {"last": [999_999.0] * 4, "buffers": (1, 0)}


def test_values_the_caller_let_go_lend_their_memory_to_the_next_gets(softioc, values_pool):
    chid = connected(eca, softioc.pv("wbig"))
    assert eca.put(chid, MILLION, wait=True, timeout=20) == 1
    seen = set()
    value = None
    for _ in range(6):
        value = eca.get(chid, timeout=20)  # the last one is held while the next comes
        assert np.array_equal(value, MILLION) and value.flags.writeable
        seen.add(memory_of(value))
    assert len(seen) == 2 and len(values_pool._kept) == 2


def test_a_view_of_a_value_keeps_its_memory_from_being_reused(softioc, values_pool):
    chid = connected(eca, softioc.pv("wbig"))
    assert eca.put(chid, MILLION, wait=True, timeout=20) == 1
    value = eca.get(chid, timeout=20)
    tail = value[-3:]  # a view: its base is the pooled memory, not the array
    del value
    for scale in (2.0, 3.0, 4.0):
        assert eca.put(chid, MILLION * scale, wait=True, timeout=20) == 1
        assert eca.get(chid, timeout=20)[-1] == 999_999.0 * scale
    assert tail.tolist() == [999_997.0, 999_998.0, 999_999.0]


def test_monitor_values_kept_by_a_callback_keep_their_contents(softioc, values_pool):
    chid = connected(eca, softioc.pv("wbig"))
    assert eca.put(chid, MILLION, wait=True, timeout=20) == 1
    kept = []
    handle = eca.create_subscription(
        chid, callback=lambda value=None, **kw: kept.append(value))
    try:
        assert wait_for(lambda: len(kept) == 1, 20)
        for scale in (2.0, 3.0, 4.0, 5.0):
            assert eca.put(chid, MILLION * scale, wait=True, timeout=20) == 1
            assert wait_for(lambda: len(kept) == scale, 20)
    finally:
        eca.clear_subscription(handle[2])
    for scale, value in zip((1.0, 2.0, 3.0, 4.0, 5.0), kept):
        assert np.array_equal(value, MILLION * scale)


def test_aioca_values_are_the_callers_own(softioc, values_pool):
    async def read():
        await aioca.caput(softioc.pv("wbig"), MILLION, wait=True, timeout=20)
        first = await aioca.caget(softioc.pv("wbig"), timeout=20)
        await aioca.caput(softioc.pv("wbig"), MILLION * 2, wait=True, timeout=20)
        second = await aioca.caget(softioc.pv("wbig"), timeout=20)
        await aioca.caput(softioc.pv("wchar"), [97, 98, 99], wait=True)
        chars = await aioca.caget(softioc.pv("wchar"))
        return first, second, chars

    first, second, chars = asyncio.run(read())
    assert np.array_equal(first, MILLION) and np.array_equal(second, MILLION * 2)
    assert first.flags.writeable and second.flags.writeable
    # bytes decode as a read-only view of the message: the caller gets a copy
    assert chars.flags.writeable and chars.tolist()[:3] == [97, 98, 99]


def test_aioca_receives_a_large_reply_in_place_converting_each_piece(monkeypatch):
    """A reply that comes in pieces with pauses, as from a busy server: aioca's asyncio
    transport receives it into one buffer and converts each piece as it comes."""
    values = np.arange(1_000_000, dtype=float)
    progress = []  # numbers converted after each convert call
    convert = ArrivingValues.convert

    def recorded(arriving, data, available):
        convert(arriving, data, available)
        progress.append(arriving._done)

    monkeypatch.setattr(ArrivingValues, "convert", recorded)
    raw = RawServer(["big"])
    for name, value in (("EPICS_CA_ADDR_LIST", f"127.0.0.1:{raw.port}"),
                        ("EPICS_CA_AUTO_ADDR_LIST", "NO"),
                        ("EPICS_CA_MAX_ARRAY_BYTES", "10000000")):
        monkeypatch.setenv(name, value)

    def play():
        sock = raw.accept()
        circuit, _ = raw.serve_channel(sock, DOUBLE, 1_000_000)
        (read,) = [m for m in raw.receive_messages(
            sock, circuit, lambda ms: any(isinstance(m, core.ReadNotifyRequest) for m in ms))
            if isinstance(m, core.ReadNotifyRequest)]
        reply = memoryview(b"".join(bytes(b) for b in circuit.send(
            core.ReadNotifyResponse(values, DOUBLE, read.ioid))))
        for start in range(0, len(reply), 1_000_000):
            sock.sendall(reply[start:start + 1_000_000])
            time.sleep(0.02)

    server = threading.Thread(target=play)
    server.start()
    try:
        got = asyncio.run(aioca.caget("big", timeout=10))
    finally:
        server.join(10)
        raw.close()
    assert np.array_equal(got, values)
    assert len(set(progress)) >= 8 and progress[-1] == 1_000_000, progress


def test_small_buffers_are_joined_for_one_send_and_large_ones_left_as_they_are():
    large = memoryview(bytes(LARGE))
    pieces = _joined([b"a", b"b", large, b"c", large, large, b"d", b"e"])
    assert [bytes(piece[:1]) if len(piece) >= LARGE else bytes(piece) for piece in pieces] \
        == [b"ab", b"\0", b"c", b"\0", b"\0", b"de"]
    assert pieces[1] is large and pieces[3] is large and pieces[4] is large


def test_large_puts_without_waiting_arrive_whole_and_in_order(softioc):
    """Each 8 MB put is more than the socket takes at once: the rest of each is written
    later, by the I/O thread, before the next put's bytes."""
    chid = connected(eca, softioc.pv("wbig"))
    for scale in (2.0, 3.0, 4.0):
        eca.put(chid, MILLION * scale, wait=False)
    assert eca.put(chid, MILLION * 5.0, wait=True, timeout=20) == 1
    assert np.array_equal(eca.get(chid, timeout=20), MILLION * 5.0)


def test_each_get_complete_of_a_large_reply_has_values_of_its_own(softioc):
    chid = connected(eca, softioc.pv("wbig"))
    assert eca.put(chid, MILLION, wait=True, timeout=20) == 1
    eca.get(chid, wait=False)
    first = eca.get_complete(chid, timeout=20)
    second = eca.get_complete(chid, timeout=20)
    assert np.array_equal(first, MILLION) and np.array_equal(second, MILLION)
    assert not np.shares_memory(first, second)
