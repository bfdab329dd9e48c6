"""The client context against a real softIoc: search, circuits, beacons, large payloads.

Each test builds its own Context with an explicit Config, so these run independently of
the process-wide pyepics-style context.
"""
from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest

import caproto_core as core
from epics_compat._config import Config
from epics_compat._context import CS_CONN, CS_PREV_CONN, ChannelAccessError, Context
from ioc import SoftIoc, find_free_port
from pyepics_api import wait_for

DOUBLE, TIME_DOUBLE = core.ChannelType.DOUBLE, core.ChannelType.TIME_DOUBLE


def config_for(ioc: SoftIoc, **changes) -> Config:
    settings = dict(addr_list=[("127.0.0.1", ioc.port)], auto_addr_list=False,
                    server_port=ioc.port, repeater_port=ioc.port + 1)
    settings.update(changes)
    return Config(**settings)


@pytest.fixture
def own_ioc(tmp_path):
    """A softIoc of this test alone, free to be stopped and restarted."""
    ioc = SoftIoc(port=find_free_port(), prefix=f"eng{id(tmp_path) % 10000}:",
                  log_path=tmp_path / "ioc.log")
    ioc.start()
    yield ioc
    ioc.stop()


@pytest.fixture
def context_for():
    contexts = []

    def make(ioc, **changes):
        context = Context(config_for(ioc, **changes))
        contexts.append(context)
        return context
    yield make
    for context in contexts:
        context.destroy()


def connect(context, name, timeout=3.0):
    channel = context.create_channel(name)
    assert channel.connected.wait(timeout), f"{name} did not connect"
    return channel


def read_value(context, channel, data_type=DOUBLE, timeout=3.0):
    pending = context.read(channel, data_type, 0)
    assert pending.wait(timeout), f"no reply for {channel.name}"
    assert pending.error is None, pending.error
    return pending.result


def test_read_write_and_monitor(softioc, context_for):
    context = context_for(softioc)
    channel = connect(context, softioc.pv("ao"))
    assert channel.state == CS_CONN and channel.native_type == DOUBLE
    assert channel.host == f"127.0.0.1:{softioc.port}"
    updates = []
    arrived = threading.Event()

    def on_update(message):
        updates.append(float(message.data[0]))
        if len(updates) >= 4:
            arrived.set()
    # A known start value, so that each write below is a change (DRVH/DRVL are +-10).
    assert context.write(channel, 0.125, DOUBLE, None, notify=True).wait(3)
    context.subscribe(channel, "time", 0, core.SubscriptionType.DBE_VALUE, on_update)
    written = [-7.25, 4.5, 8.75]
    for value in written:
        pending = context.write(channel, value, DOUBLE, None, notify=True)
        assert pending.wait(3) and pending.error is None
    assert arrived.wait(3), updates
    assert updates[-3:] == written  # in order, none lost
    assert read_value(context, channel).data[0] == written[-1]


def test_many_channels_connect_with_batched_searches(softioc, context_for):
    records = ["ai", "ao", "long", "longin", "bo", "bi", "mbbo", "mbbi", "str", "strin",
               "calc", "alarm"]
    fields = ["", ".DESC", ".SCAN", ".PINI", ".NAME", ".RTYP", ".STAT", ".SEVR", ".UDF",
              ".PHAS", ".EVNT", ".TSE", ".PRIO", ".DISV", ".DISA", ".PROC", ".ACKS",
              ".ACKT", ".NSEV", ".NSTA"]
    names = [softioc.pv(r + f) for r in records for f in fields]
    context = context_for(softioc)
    started = time.monotonic()
    channels = [context.create_channel(name) for name in names]
    assert all(c.connected.wait(5) for c in channels)
    elapsed = time.monotonic() - started
    # One circuit serves them all.
    assert len(context.circuits) == 1
    assert elapsed < 5.0
    # Their 240 replies come in a few receives; each kept reply holds its own bytes,
    # not the whole buffer it came in (a channel keeps its last reply).
    replies = [context.read(c, c.native_type, 0) for c in channels]
    assert all(r.wait(5) and r.error is None for r in replies)
    assert {type(r.result.payload) for r in replies} == {bytes}


def test_search_requests_are_batched_into_few_datagrams():
    broadcaster = core.Broadcaster(core.CLIENT)
    requests = [core.SearchRequest(f"SOME:LONG:PREFIX:record{i}.FIELD", i) for i in range(300)]
    datagrams = broadcaster.search_datagrams(requests, sequence_id=7)
    assert all(len(d) <= core.MAX_DATAGRAM_SIZE for d in datagrams)
    total = sum(16 + r.payload_size for r in requests)
    fewest = -(-total // (core.MAX_DATAGRAM_SIZE - 16))  # 16: the leading VersionRequest
    assert fewest <= len(datagrams) <= fewest + 1
    found = [m for d in datagrams for m in core.read_datagram(d, core.CLIENT)
             if isinstance(m, core.SearchRequest)]
    assert [m.cid for m in found] == list(range(300))


def test_missing_pv_does_not_connect_and_stops_nothing(softioc, context_for):
    context = context_for(softioc)
    missing = context.create_channel(softioc.pv("no_such_record"))
    assert not missing.connected.wait(0.5)
    with pytest.raises(ChannelAccessError, match="no_such_record.*not connected"):
        context.read(missing, DOUBLE, 0)
    assert read_value(context, connect(context, softioc.pv("ai"))).data[0] == 3.25


def test_search_through_a_name_server(own_ioc, context_for):
    context = context_for(own_ioc, addr_list=[], name_servers=[("127.0.0.1", own_ioc.port)])
    channel = connect(context, own_ioc.pv("ai"))
    assert channel.host == f"127.0.0.1:{own_ioc.port}"
    assert context._name_servers[("127.0.0.1", own_ioc.port)].connected


def test_beacons_arrive_through_the_repeater(own_ioc, context_for):
    context = context_for(own_ioc)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not context.search_plan.beacons:
        time.sleep(0.1)
    assert context.repeater_registration.confirmed
    assert ("127.0.0.1", own_ioc.port) in context.search_plan.beacons


def test_restarted_server_reconnects_and_monitor_resumes(own_ioc, context_for):
    context = context_for(own_ioc)
    channel = connect(context, own_ioc.pv("ao"))
    events = []
    channel.connection_callbacks.append(lambda c, connected: events.append(connected))
    values = []
    context.subscribe(channel, "native", 0, core.SubscriptionType.DBE_VALUE,
                      lambda m: values.append(float(m.data[0])))
    own_ioc.stop()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and channel.state == CS_CONN:
        time.sleep(0.05)
    assert channel.state == CS_PREV_CONN
    with pytest.raises(ChannelAccessError):
        context.read(channel, DOUBLE, 0)
    own_ioc.start()
    assert channel.connected.wait(10), "did not reconnect after the restart"
    pending = context.write(channel, 7.75, DOUBLE, None, notify=True)
    assert pending.wait(3) and pending.error is None
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and 7.75 not in values:
        time.sleep(0.05)
    assert 7.75 in values, values  # the subscription was restored on the new circuit
    context.dispatcher.wait_idle(2)
    assert events[:2] == [False, True]


def test_pending_get_fails_when_the_server_dies(own_ioc, context_for):
    context = context_for(own_ioc)
    channel = connect(context, own_ioc.pv("slow"))
    pending = context.write(channel, 1.0, DOUBLE, None, notify=True)  # completes in 0.5 s
    own_ioc.stop()
    assert pending.wait(5), "a request in flight must end when its circuit dies"
    assert pending.error is not None and "lost" in pending.error


def test_million_element_array_round_trip(softioc, context_for):
    context = context_for(softioc)
    channel = connect(context, softioc.pv("wbig"))
    values = np.random.default_rng(1).random(1_000_000)
    pending = context.write(channel, values, DOUBLE, None, notify=True)
    assert pending.wait(10) and pending.error is None
    result = read_value(context, channel, timeout=10).data
    assert result.dtype == np.float64 and result.dtype.isnative
    np.testing.assert_array_equal(result, values)


def test_payload_over_max_array_bytes_closes_circuit_not_client(softioc, context_for, caplog):
    context = context_for(softioc, max_array_bytes=100_000)
    big = connect(context, softioc.pv("wbig"))
    with caplog.at_level(logging.ERROR, logger="epics_compat.context"):
        pending = context.read(big, DOUBLE, 0)
        assert pending.wait(5)
    assert pending.error is not None
    assert any("EPICS_CA_MAX_ARRAY_BYTES" in r.getMessage() for r in caplog.records)
    # The client reconnects and small reads keep working.
    small = connect(context, softioc.pv("ai"), timeout=5)
    assert read_value(context, small).data[0] == 3.25


def test_callbacks_may_read_without_deadlock(softioc, context_for):
    context = context_for(softioc)
    channel = connect(context, softioc.pv("ai"))
    results = []
    done = threading.Event()

    def on_update(message):
        results.append(float(read_value(context, channel).data[0]))
        done.set()
    context.subscribe(channel, "native", 0, core.SubscriptionType.DBE_VALUE, on_update)
    assert done.wait(5)
    assert results == [3.25]


def test_empty_array_update_is_not_taken_for_a_cancel(softioc, context_for):
    context = context_for(softioc)
    channel = connect(context, softioc.pv("eng:empty"))
    updates = []
    context.subscribe(channel, "native", 0, core.SubscriptionType.DBE_VALUE,
                      lambda m: updates.append(list(m.data)))
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not updates:
        time.sleep(0.02)
    assert updates == [[]]
    circuit = channel.circuit
    pending = context.write(channel, [1.0, 2.0], DOUBLE, None, notify=True)
    assert pending.wait(3) and pending.error is None
    while time.monotonic() < deadline + 3 and len(updates) < 2:
        time.sleep(0.02)
    assert updates[1] == [1.0, 2.0]
    assert channel.circuit is circuit and not circuit.closed  # the circuit was kept


def test_reads_sent_when_their_channels_connect(softioc, context_for):
    """read_when_connected: a read queued before the connection goes out with it; one
    of a connected channel at once; one of a channel that never connects waits until
    forgotten; the count is checked by the caller and clipped to the channel's."""
    context = context_for(softioc)
    early = context.create_channel(softioc.pv("wlong:init"))
    pending = context.read_when_connected(early, count=2)  # queued before the reply
    assert pending.wait(5) and pending.error is None
    assert early.connected.is_set() and pending.result.data.tolist() == [1, 2]
    whole = context.read_when_connected(early, count=1000)
    assert whole.wait(5) and whole.result.data.tolist()[:5] == [1, 2, 3, 4, 5]
    absent = context.create_channel(softioc.pv("absent"))
    never = context.read_when_connected(absent)
    assert not never.wait(0.3)
    assert wait_for(lambda: absent.reads_on_connect is not None)
    context.forget_read(never)
    assert wait_for(lambda: absent.reads_on_connect is None)
    for bad in (-1, 2.5, "3"):
        with pytest.raises((ValueError, TypeError)):
            context.read_when_connected(early, count=bad)

