"""The callback thread: single calls and batches of monitor updates, in order.

The I/O thread hands the monitor updates of one read to the dispatcher as one batch;
these tests check that batches keep the order of calls (also against single calls and
against other callbacks of the same read), that a callback that raises stops nothing,
and that the backlog, on which flow control decides, counts every call of a batch.
"""
from __future__ import annotations

import logging
import threading
import time

import pytest

import caproto_core as core
from epics_compat._dispatch import Dispatcher
from reliability import DOUBLE, Lab, RawServer, one_double, subscribed_counter, wait_for

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def dispatcher():
    dispatcher = Dispatcher("test-callbacks")
    yield dispatcher
    dispatcher.stop()


def block(dispatcher):
    """Hold the dispatcher in a call until the returned event is set."""
    entered, release = threading.Event(), threading.Event()

    def wait():
        entered.set()
        release.wait(10)
    dispatcher.call(wait)
    assert entered.wait(5)
    return release


def test_batches_and_single_calls_run_in_the_order_queued(dispatcher):
    seen = []
    release = block(dispatcher)
    dispatcher.call_batch([(seen.append, i) for i in range(3)])
    dispatcher.call(seen.append, "single")
    dispatcher.call_batch([(seen.append, i) for i in range(3, 6)])
    dispatcher.call_batch([])  # nothing to run, and nothing counted
    dispatcher.call_batch([(seen.append, 6)])
    release.set()
    assert dispatcher.wait_idle(5)
    assert seen == [0, 1, 2, "single", 3, 4, 5, 6]
    assert dispatcher.backlog() == 0


def test_a_callback_that_raises_is_logged_and_the_rest_of_its_batch_runs(dispatcher,
                                                                        caplog):
    seen = []

    def fail(argument):
        raise ValueError(f"bad {argument}")
    with caplog.at_level(logging.ERROR, logger="epics_compat.dispatch"):
        dispatcher.call_batch([(seen.append, 1), (fail, 2), (seen.append, 3), (fail, 4),
                               (seen.append, 5)])
        assert dispatcher.wait_idle(5)
    assert seen == [1, 3, 5]
    assert [r.exc_info[1].args[0] for r in caplog.records] == ["bad 2", "bad 4"]
    assert dispatcher.backlog() == 0


def test_backlog_counts_every_call_of_a_batch(dispatcher):
    release = block(dispatcher)
    assert dispatcher.backlog() == 0
    dispatcher.call_batch([(len, "x")] * 1000)
    dispatcher.call(len, "y")
    dispatcher.call_batch([(len, "z")] * 500)
    assert dispatcher.backlog() == 1501
    seen = []
    gate = threading.Event()

    def slow(index):
        if index == 100:
            seen.append(dispatcher.backlog())
            gate.wait(10)
    dispatcher.call_batch([(slow, i) for i in range(200)])
    release.set()
    assert wait_for(lambda: seen, 5)
    assert seen == [99]  # while the 101st call of the last batch runs: the 99 after it
    gate.set()
    assert dispatcher.wait_idle(5)
    assert dispatcher.backlog() == 0


def test_lag_is_the_age_of_the_running_batch(dispatcher):
    """Flow control holds updates only when callbacks are behind in time: lag() is how
    long ago the batch running now was queued, and 0.0 between batches."""
    assert dispatcher.lag() == 0.0
    entered, release = threading.Event(), threading.Event()

    def wait(_):
        entered.set()
        release.wait(10)
    queued = time.monotonic()
    dispatcher.call_batch([(wait, None), (len, "x")])
    assert entered.wait(5)
    time.sleep(0.05)
    assert dispatcher.lag() >= time.monotonic() - queued - 0.001 >= 0.049
    release.set()
    assert dispatcher.wait_idle(5)
    assert dispatcher.lag() == 0.0


def test_notify_below_fires_in_the_middle_of_a_batch(dispatcher):
    """Flow control resumes when the backlog falls low, not only between batches."""
    release = block(dispatcher)
    runs = []
    fired = []
    dispatcher.call_batch([(runs.append, i) for i in range(1000)])
    dispatcher.notify_below(100, lambda: fired.append(len(runs)))
    release.set()
    assert wait_for(lambda: len(runs) == 1000, 5)
    # Fired once, after the call that left 100 waiting (99 of the batch and the marker
    # that notify_below queued).
    assert fired == [901]


def test_updates_and_a_read_reply_of_one_read_keep_their_order():
    """Monitor updates, a read reply in their midst, and more updates, in one TCP write:
    the callbacks run in the order of the messages (the updates go over in batches)."""
    lab = Lab()
    raw = RawServer(["counter"])
    try:
        context, channel, sock, circuit, recorder, subscriptionid = \
            subscribed_counter(lab, raw)
        read_done = []
        pending = context.read(channel, DOUBLE, 1,
                               callback=lambda p: read_done.append(len(recorder.values)))
        got = raw.receive_messages(
            sock, circuit, lambda ms: any(isinstance(m, core.ReadNotifyRequest) for m in ms))
        ioid = next(m for m in got if isinstance(m, core.ReadNotifyRequest)).ioid
        updates = [one_double(core.EventAddResponse.ID, subscriptionid, float(i))
                   for i in range(1, 3001)]
        reply = one_double(core.ReadNotifyResponse.ID, ioid, -1.0)
        sock.sendall(b"".join(updates[:1500]) + reply + b"".join(updates[1500:]))
        assert recorder.wait_for(lambda values: len(values) >= 3000, 10)
        assert context.dispatcher.wait_idle(5)
        assert pending.done.wait(5)
        assert recorder.values == [float(i) for i in range(1, 3001)]
        assert read_done == [1500]
    finally:
        raw.close()
        lab.close()


def test_idle_only_once_every_queued_call_has_run(dispatcher):
    assert dispatcher.idle()
    release = block(dispatcher)
    ran = []
    dispatcher.call_batch([(ran.append, 1), (ran.append, 2)])
    assert not dispatcher.idle()  # one call running, a batch queued
    settled = threading.Event()

    def settle():
        if dispatcher.wait_idle(5):
            settled.set()
    waiter = threading.Thread(target=settle)
    waiter.start()
    time.sleep(0.05)
    assert not settled.is_set()  # wait_idle waits for the queued batch
    release.set()
    waiter.join(5)
    assert settled.is_set() and ran == [1, 2]
    assert wait_for(dispatcher.idle)  # the marker wait_idle queued has ended too
