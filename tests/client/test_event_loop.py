"""The event loop that the client's I/O thread and the server's thread both run."""
import logging
import selectors
import socket
import threading
import time

import pytest

from epics_compat._event_loop import EventLoop


@pytest.fixture
def loop():
    rounds = []
    loop = EventLoop("test-loop", after_round=lambda: rounds.append(time.monotonic()))
    loop.rounds = rounds
    loop.start()
    yield loop
    loop.stop()
    loop.close()


def run_and_wait(loop, function, *args):
    done = threading.Event()
    result = []
    loop.call_soon(lambda: (result.append(function(*args)), done.set()))
    assert done.wait(5)
    return result[0]


def test_calls_from_other_threads_run_on_the_loop_thread_in_order(loop):
    seen = []
    threads = [threading.Thread(target=lambda n=n: [loop.call_soon(seen.append, (n, i))
                                                    for i in range(200)])
               for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert run_and_wait(loop, loop.in_loop_thread)
    assert len(seen) == 800
    for n in range(4):
        assert [i for m, i in seen if m == n] == list(range(200))
    assert not loop.in_loop_thread()
    assert loop.rounds, "after_round runs after each round"


def test_timers_run_in_time_order_and_a_cancelled_one_does_not(loop):
    seen = []
    done = threading.Event()
    loop.call_later(0.10, seen.append, "late")
    cancelled = loop.call_later(0.05, seen.append, "cancelled")
    loop.call_later(0.02, seen.append, "early")
    loop.call_later(0.15, done.set)
    cancelled.cancel()
    start = time.monotonic()
    assert done.wait(5)
    assert seen == ["early", "late"]
    assert time.monotonic() - start >= 0.14


def test_a_failing_handler_is_logged_and_the_loop_goes_on(loop, caplog):
    with caplog.at_level(logging.ERROR, logger="epics_compat.loop"):
        loop.call_soon(lambda: 1 / 0)
        assert run_and_wait(loop, lambda: "still running") == "still running"
    assert "ZeroDivisionError" in caplog.text


def test_sockets_are_watched_until_unwatched(loop):
    reader, writer = socket.socketpair()
    received = []
    arrived = threading.Event()

    def on_readable(mask):
        received.append(reader.recv(100))
        arrived.set()

    try:
        run_and_wait(loop, loop.watch, reader, selectors.EVENT_READ, on_readable)
        writer.send(b"one")
        assert arrived.wait(5)
        run_and_wait(loop, loop.watch, reader, 0, on_readable)
        arrived.clear()
        writer.send(b"two")
        assert not arrived.wait(0.2)
        assert received == [b"one"]
    finally:
        reader.close()
        writer.close()


def test_the_owners_lock_is_held_while_the_loop_works():
    lock = threading.RLock()
    loop = EventLoop("locked-loop", lock=lock)
    loop.start()
    try:
        assert run_and_wait(loop, lock._is_owned)
    finally:
        loop.stop()
        loop.close()


def test_stop_from_inside_the_loop_ends_it_and_on_exit_runs_there():
    exits = []
    loop = EventLoop("stopping-loop", on_exit=lambda: exits.append(loop.in_loop_thread()))
    loop.start()
    loop.call_soon(loop.stop)
    loop.thread.join(5)
    assert not loop.thread.is_alive()
    assert exits == [True]
    loop.close()
