"""The callback thread: user callbacks run here, never on the socket reader."""
from __future__ import annotations

import collections
import logging
import queue
import threading
import time

logger = logging.getLogger("epics_compat.dispatch")


class Dispatcher:
    """Runs queued calls in order on one thread of its own.

    Callbacks may block, or call get/put themselves: the I/O thread keeps reading
    meanwhile, so their replies still arrive.
    """

    def __init__(self, name: str):
        # Items: (function, args, kwargs), a list of (function, argument) pairs (a batch,
        # see call_batch), or None (stop).
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._below: tuple | None = None  # (count, function): see notify_below
        # Calls inside batches beyond the one queue item each batch counts for: added by
        # the threads that queue batches (under _batch_lock), taken off by this one as they
        # run. This thread is the only writer of _batched_out, so it needs no lock.
        self._batched_in = 0
        self._batched_out = 0
        self._batch_lock = threading.Lock()
        # When each batch was queued, in queue order, and when the one running now was:
        # see lag.
        self._batch_times: collections.deque = collections.deque()
        self._running_since: float | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def call(self, function, *args, **kwargs) -> None:
        self._queue.put((function, args, kwargs))

    def call_batch(self, calls: list) -> None:
        """Queue ``function(argument)`` for each (function, argument) pair, in order.

        One queue operation, and one wake-up of this thread, for many calls: whoever
        receives on a circuit hands over all the monitor updates of one read at once.
        ``calls`` is this dispatcher's from now on.
        """
        if calls:
            with self._batch_lock:  # the I/O thread and a caller may both be receiving
                self._batched_in += len(calls) - 1
                self._batch_times.append(time.monotonic())
                self._queue.put(calls)

    def backlog(self) -> int:
        """How many calls are queued and not yet run (each call of a batch counts)."""
        return self._queue.qsize() + self._batched_in - self._batched_out

    def lag(self) -> float:
        """Seconds since the batch running now was queued (0.0 between batches): how far
        behind its updates this thread is."""
        since = self._running_since
        return 0.0 if since is None else time.monotonic() - since

    def notify_below(self, count: int, function) -> None:
        """Call ``function()`` once, on this thread, when at most ``count`` calls wait."""
        self._below = (count, function)
        self._queue.put((_nothing, (), {}))  # so that the check runs even if idle now

    def in_dispatch_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def stop(self, timeout: float = 2.0) -> None:
        self._queue.put(None)
        if not self.in_dispatch_thread():
            self._thread.join(timeout)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every call queued before now has run (True) or timeout."""
        if self.in_dispatch_thread():
            return True
        done = threading.Event()
        self._queue.put((done.set, (), {}))
        return done.wait(timeout)

    def _run(self) -> None:
        get = self._queue.get
        while True:
            item = get()
            if item.__class__ is list:
                self._run_batch(item)
                continue
            if item is None:
                return
            function, args, kwargs = item
            try:
                function(*args, **kwargs)
            except Exception:
                logger.exception("callback %r raised", function)
            if self._below is not None:
                self._check_below()

    def _run_batch(self, calls: list) -> None:
        # The batch has left the queue (qsize) with all its calls still to run: each
        # call, once started, stops counting (as a single call does once taken from the
        # queue). After the last, the len(calls) - 1 that call_batch added are taken off.
        self._batched_out -= 1
        self._running_since = self._batch_times.popleft()
        for function, argument in calls:
            self._batched_out += 1
            try:
                function(argument)
            except Exception:
                logger.exception("callback %r raised", function)
            if self._below is not None:
                self._check_below()
        self._running_since = None

    def _check_below(self) -> None:
        below = self._below
        if below is not None and self.backlog() <= below[0]:
            self._below = None
            try:
                below[1]()
            except Exception:
                logger.exception("%r raised", below[1])


def _nothing() -> None:
    pass
