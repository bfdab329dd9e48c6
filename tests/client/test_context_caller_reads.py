"""A thread waiting for its reply receives it itself (``Context.wait_for``).

While it does, it also handles what else arrives on the circuit: replies for other
threads and monitor updates; anything else (a channel created, a circuit lost) goes to
the I/O thread, in order. These tests check that nothing is lost or reordered on the
way, against a real softIoc.
"""
from __future__ import annotations

import threading
import time

import numpy
import pytest

import caproto_core as core
from epics_compat._context import Context
from test_context_engine import DOUBLE, config_for, connect

pytestmark = pytest.mark.timeout(60)


class RecordingContext(Context):
    """A Context that notes which thread handled each reply, and every hand-over."""

    def __init__(self, *args, **kwargs):
        self.reply_threads: list[str] = []
        self.hand_overs = 0
        self.interrupt_next_reply = False
        super().__init__(*args, **kwargs)

    def _on_data(self, circuit, message):
        self.reply_threads.append(threading.current_thread().name)
        if self.interrupt_next_reply and threading.current_thread() is not self.loop.thread:
            self.interrupt_next_reply = False
            raise KeyboardInterrupt
        Context._on_data(self, circuit, message)

    def _hand_over(self, circuit, function, *args):
        self.hand_overs += 1
        return Context._hand_over(self, circuit, function, *args)

    _HANDLERS = {**Context._HANDLERS, core.ReadNotifyResponse: _on_data,
                 core.WriteNotifyResponse: _on_data}
    _CALLER_HANDLERS = {**Context._CALLER_HANDLERS, core.ReadNotifyResponse: _on_data,
                        core.WriteNotifyResponse: _on_data}


@pytest.fixture
def recording(softioc):
    context = RecordingContext(config_for(softioc))
    yield context
    context.destroy()


def read(context, channel, timeout=5.0):
    pending = context.read(channel, DOUBLE, 0)
    assert pending.wait(timeout) and pending.error is None, pending.error
    return float(pending.result.data[0])


def test_the_waiting_thread_receives_its_own_reply(softioc, recording):
    channel = connect(recording, softioc.pv("ai"))
    recording.reply_threads.clear()
    assert [read(recording, channel) for _ in range(200)] == [3.25] * 200
    # The I/O thread still takes a reply that comes before its caller waits (it does
    # under load): each was handled once, most by the caller.
    assert len(recording.reply_threads) == 200
    assert set(recording.reply_threads) <= {"MainThread", recording.loop.thread.name}
    assert recording.reply_threads.count("MainThread") > 0
    circuit = channel.circuit
    assert not circuit.caller_reading and not circuit.reader.locked()


def test_a_caller_that_takes_the_circuit_first_receives_every_reply(softioc, recording):
    """With ``receive=True`` the caller takes the circuit before its request goes out:
    no reply can reach the I/O thread first (without it, some did, and the I/O thread
    woke for them: a get round trip took twice as long)."""
    channel = connect(recording, softioc.pv("ai"))
    recording.reply_threads.clear()
    for _ in range(200):
        pending = recording.read(channel, DOUBLE, 0, receive=True)
        assert pending.wait(5) and float(pending.result.data[0]) == 3.25
    assert recording.reply_threads == ["MainThread"] * 200
    circuit = channel.circuit
    assert not circuit.caller_reading and not circuit.reader.locked()


def test_a_circuit_taken_but_not_waited_on_is_given_back(softioc, recording):
    """A caller that took the circuit (``receive=True``) and then does not wait, gives it
    back with ``end_receive``: the I/O thread receives the reply."""
    channel = connect(recording, softioc.pv("ai"))
    circuit = channel.circuit
    pending = recording.read(channel, DOUBLE, 0, receive=True)
    assert circuit.caller_reading and circuit.reader.locked()
    recording.end_receive(pending)
    assert not circuit.caller_reading and not circuit.reader.locked()
    assert pending.done.wait(5) and float(pending.result.data[0]) == 3.25
    recording.end_receive(pending)  # a second time: nothing to give back
    assert read(recording, channel) == 3.25


def test_a_large_write_by_a_receiving_caller_is_finished_by_the_io_thread(softioc,
                                                                          recording):
    """8 MB do not fit the socket at once: the caller, holding the circuit to receive,
    writes what fits and the I/O thread the rest, while the caller receives."""
    channel = connect(recording, softioc.pv("wbig"))
    values = numpy.arange(1_000_000, dtype=float)
    for shift in (0.5, 1.5):
        pending = recording.write(channel, values + shift, DOUBLE, None, notify=True,
                                  receive=True)
        assert pending.wait(20) and pending.error is None
        reply = recording.read(channel, DOUBLE, 0)
        assert reply.wait(20) and reply.error is None
        assert numpy.array_equal(reply.result.data, values + shift)
    circuit = channel.circuit
    assert not circuit.caller_reading and not circuit.reader.locked()
    assert not circuit.outgoing


def test_other_threads_replies_and_updates_arrive_complete_and_in_order(softioc, recording):
    """Eight threads read while a ninth writes 0..299 with completion and a subscription
    counts the updates: every read answered, every update there once, in order."""
    reader_channel = connect(recording, softioc.pv("ai"))
    channel = connect(recording, softioc.pv("eng:counter"))
    assert recording.write(channel, -1.0, DOUBLE, None, notify=True).wait(5)
    updates, last = [], threading.Event()

    def on_update(message):
        value = float(message.data[0])
        updates.append(value)
        if value == 299:
            last.set()
    recording.subscribe(channel, "native", 0, core.SubscriptionType.DBE_VALUE, on_update)
    failures = []

    def reads():
        try:
            for _ in range(100):
                assert read(recording, reader_channel) == 3.25
        except Exception as exc:  # reported below, with the thread's name
            failures.append(f"{threading.current_thread().name}: {exc!r}")

    def writes():
        for value in range(300):
            pending = recording.write(channel, float(value), DOUBLE, None, notify=True)
            if not pending.wait(5) or pending.error:
                failures.append(f"write {value}: {pending.error}")
    threads = [threading.Thread(target=reads) for _ in range(8)] + \
        [threading.Thread(target=writes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not failures
    assert last.wait(5)
    assert updates[updates.index(0.0):] == [float(v) for v in range(300)]
    # Callers did receive for one another (not only the I/O thread).
    assert len(set(recording.reply_threads)) > 2


def test_what_a_caller_may_not_handle_goes_to_the_io_thread_in_order(softioc, recording):
    """A put to ``slow`` completes 0.5 s later: its caller receives on the circuit all
    that time. Channels created meanwhile connect through a hand-over, and an update
    written meanwhile (by another thread) still arrives before the put completes."""
    slow = connect(recording, softioc.pv("slow"))
    monitored = connect(recording, softioc.pv("eng:counter"))
    updates = []
    recording.subscribe(monitored, "native", 0, core.SubscriptionType.DBE_VALUE,
                        lambda message: updates.append(float(message.data[0])))
    time.sleep(0.2)  # the subscription's first update is in
    created, written = [], []

    def meanwhile():
        time.sleep(0.1)  # the main thread is receiving by now
        channels = [recording.create_channel(softioc.pv(name))
                    for name in ("longin", "bi", "strin", "mbbi")]
        created.extend(c.connected.wait(0.3) for c in channels)
        written.append(recording.write(monitored, 42.0, DOUBLE, None, notify=True).wait(0.3))
    helper = threading.Thread(target=meanwhile)
    helper.start()
    started = time.monotonic()
    pending = recording.write(slow, 1.0, DOUBLE, None, notify=True)
    assert pending.wait(5) and pending.error is None
    assert time.monotonic() - started >= 0.4  # the put really took its time
    helper.join(5)
    assert created == [True] * 4 and written == [True]
    assert updates[-1] == 42.0
    assert recording.hand_overs >= 1
    circuit = slow.circuit
    assert not circuit.caller_reading and not circuit.reader.locked()
    assert read(recording, monitored) == 42.0


def test_interrupt_while_handling_a_reply_restarts_the_circuit(softioc, recording):
    """A KeyboardInterrupt between receiving and handling: the circuit starts afresh,
    the channels reconnect and their subscriptions deliver again."""
    channel = connect(recording, softioc.pv("ai"))
    updates = []
    recording.subscribe(channel, "native", 0, core.SubscriptionType.DBE_VALUE,
                        lambda message: updates.append(float(message.data[0])))
    time.sleep(0.2)
    assert updates == [3.25]
    circuit = channel.circuit
    recording.interrupt_next_reply = True
    with pytest.raises(KeyboardInterrupt):
        for _ in range(100):  # until a reply is handled by its caller, not the I/O thread
            read(recording, channel)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (channel.circuit is circuit or
                                           not channel.connected.is_set()):
        time.sleep(0.02)
    assert circuit.closed and channel.circuit is not circuit
    assert read(recording, channel) == 3.25
    while time.monotonic() < deadline and len(updates) < 2:
        time.sleep(0.02)
    assert updates == [3.25, 3.25]  # renewed with the new circuit


def test_a_circuit_closed_while_its_caller_receives_drops_the_data_quietly(softioc, recording,
                                                                         caplog):
    """The context closes a circuit (as when it stops) between a caller's receive and
    its handling of what came: the data is dropped, no protocol error is reported, and
    the caller closes the socket and gives the circuit up."""
    slow = connect(recording, softioc.pv("slow"))
    monitored = connect(recording, softioc.pv("eng:counter"))
    recording.subscribe(monitored, "native", 0, core.SubscriptionType.DBE_VALUE,
                        lambda message: None)
    time.sleep(0.2)  # the subscription's first update is in
    circuit = slow.circuit
    outcome = []
    caller = threading.Thread(target=lambda: outcome.append(
        recording.write(slow, 2.0, DOUBLE, None, notify=True).wait(1.0)))
    caller.start()
    time.sleep(0.1)  # the caller waits for its put, receiving on the circuit
    assert circuit.caller_reading
    writer = Context(config_for(softioc))
    try:
        with circuit.lock:  # the caller receives the update, then waits for this lock
            assert writer.write(connect(writer, softioc.pv("eng:counter")), 7.0, DOUBLE,
                                None, notify=True).wait(5)
            time.sleep(0.2)
            recording._close_circuit(circuit)
        caller.join(5)
    finally:
        writer.destroy()
    assert outcome == [False]  # the put's reply was never handled
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
    assert not circuit.caller_reading and not circuit.reader.locked()
    assert circuit.sock.fileno() == -1
