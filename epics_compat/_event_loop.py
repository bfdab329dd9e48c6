"""``EventLoop``: one thread polling sockets, with timers and calls.

The client's I/O thread and the server's loop thread are each one of these. Socket
handlers, due timers and calls queued by other threads run on the loop's thread, one at
a time, inside ``lock`` when the owner gives one (the server's, which also guards every
PV), and after each round the owner's ``after_round``. An exception in one is logged and
the loop goes on. ``call_soon`` and ``call_later`` may be used from any thread; they wake
the loop only when it would not look at the queue anyway.
"""
from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import selectors
import socket
import threading
import time
from typing import Callable, ContextManager

from ._poller import Handler, new_poller

logger = logging.getLogger("epics_compat.loop")


class Timer:
    """A scheduled call; ``cancel()`` stops it from running."""
    __slots__ = ("when", "function", "args", "cancelled")

    def __init__(self, when: float, function: Callable, args: tuple):
        self.when = when
        self.function = function
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class EventLoop:
    """A poll loop with timers and a call queue, run on a thread of its own."""

    def __init__(self, name: str, lock: ContextManager | None = None,
                 after_round: Callable[[], None] | None = None,
                 on_exit: Callable[[], None] | None = None):
        """``after_round`` runs after each round's handlers, calls and timers (the client
        flushes what they queued); ``on_exit`` runs on the loop's thread as it ends."""
        self.name = name
        self.lock: ContextManager = lock if lock is not None else contextlib.nullcontext()
        self._after_round = after_round
        self._on_exit = on_exit
        self._poller = new_poller()
        self._timers: list[tuple[float, int, Timer]] = []
        self._sequence = itertools.count()
        # Reentrant: the garbage collector may free a PV while this thread holds it (an
        # allocation in call_soon), and the PV queues its unsubscription through here.
        self._queue_lock = threading.RLock()
        self._calls: list[tuple[Callable, tuple]] = []
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._poller.add(self._wake_reader, selectors.EVENT_READ, self._drain_wake)
        self._thread: threading.Thread | None = None
        #: The loop thread's ident once it runs: cheaper to compare than threads.
        self.thread_id: int | None = None
        self._stopping = False

    # --- sockets -------------------------------------------------------------------------

    def register(self, sock: socket.socket, events: int, handler: Handler) -> None:
        self._poller.add(sock, events, handler)

    def modify(self, sock: socket.socket, events: int, handler: Handler) -> None:
        """Change what is watched on a registered ``sock``; 0 keeps it registered with
        nothing watched, cheaper to undo than unregistering it."""
        self._poller.change(sock, events, handler)

    def watch(self, sock: socket.socket, events: int, handler: Handler) -> None:
        """Watch ``sock`` for ``events`` whether or not it is registered (0: unregister)."""
        watched = self._poller.events_of(sock)
        if watched is None:
            if events:
                self._poller.add(sock, events, handler)
        elif not events:
            self._poller.remove(sock)
        elif watched != events:
            self._poller.change(sock, events, handler)

    def unregister(self, sock: socket.socket) -> None:
        self._poller.remove(sock)

    # --- calls and time ------------------------------------------------------------------

    def call_soon(self, function: Callable, *args) -> None:
        """Run ``function(*args)`` on the loop thread, in the order of the calls."""
        with self._queue_lock:
            self._calls.append((function, args))
            first = len(self._calls) == 1
        if first:  # otherwise a wake-up is on its way already (one send() each: ~20 us)
            self.wake()

    def call_later(self, delay: float, function: Callable, *args) -> Timer:
        """Run ``function(*args)`` on the loop thread after ``delay`` seconds."""
        timer = Timer(time.monotonic() + max(0.0, delay), function, args)
        with self._queue_lock:
            heapq.heappush(self._timers, (timer.when, next(self._sequence), timer))
            first = self._timers[0][2] is timer
        if first and self.thread_id != threading.get_ident():
            self.wake()  # the loop may be waiting for a later timer
        return timer

    def in_loop_thread(self) -> bool:
        return threading.get_ident() == self.thread_id

    @property
    def thread(self) -> threading.Thread | None:
        """The loop's thread, once started."""
        return self._thread

    def wake(self) -> None:
        try:
            self._wake_writer.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already awake, or closing

    def _drain_wake(self, mask: int) -> None:
        try:
            while self._wake_reader.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

    # --- running -------------------------------------------------------------------------

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop thread and wait for it (what runs in it now finishes first)."""
        self._stopping = True
        self.wake()
        if self._thread is not None and not self.in_loop_thread():
            self._thread.join(timeout)

    def close(self) -> None:
        self._poller.close()
        self.abandon()

    def abandon(self) -> None:
        """In a forked child, where the thread is gone: close our copies of the sockets."""
        self._stopping = True
        self._wake_reader.close()
        self._wake_writer.close()

    def _run(self) -> None:
        self.thread_id = threading.get_ident()
        try:
            while not self._stopping:
                self._round()
        finally:
            if self._on_exit is not None:
                self._on_exit()

    def _round(self) -> None:
        timers = self._timers
        timeout = max(0.0, timers[0][0] - time.monotonic()) if timers else None
        try:
            ready = self._poller.ready(timeout)
        except OSError:  # a socket closed under us by another thread
            ready = []
        if self._stopping:
            return
        with self.lock:
            current = self._poller.current
            for entry, events in ready:
                # As registered now: an earlier handler of this round may have changed it.
                events &= entry.events
                if events and current(entry) is entry:
                    _call(entry.handler, events)
            if self._calls:
                self._run_calls()
            if timers and timers[0][0] <= time.monotonic():
                self._run_due_timers()
            if self._after_round is not None:
                self._after_round()

    def _run_calls(self) -> None:
        with self._queue_lock:
            calls, self._calls = self._calls, []
        for function, args in calls:
            _call(function, *args)

    def _run_due_timers(self) -> None:
        now = time.monotonic()
        while True:
            with self._queue_lock:
                if not self._timers or self._timers[0][0] > now:
                    return
                timer = heapq.heappop(self._timers)[2]
            if not timer.cancelled:
                _call(timer.function, *timer.args)


def _call(function: Callable, *args) -> None:
    try:
        function(*args)
    except Exception:  # one bad handler must not stop the loop
        logger.exception("error in %r", function)
