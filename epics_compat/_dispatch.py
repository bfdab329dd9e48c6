"""The callback thread: user callbacks run here, never on the socket reader.

Or, for a non-preemptive context (``ca.PREEMPTIVE_CALLBACK = False``, as GUI programs with
an event loop of their own set it), no thread: callbacks wait in the queue until the
program's own thread runs them inside poll(), pend_event() or a blocking call
that waits for one of them, as with libca's non-preemptive context.
"""
from __future__ import annotations

import collections
import logging
import queue
import threading
import time

logger = logging.getLogger("epics_compat.dispatch")

#: Non-preemptive waits look at their flag at least this often (seconds) while they run
#: queued callbacks, for flags that another thread sets.
WAIT_SLICE = 0.02


class Dispatcher:
    """Runs queued calls in order on one thread of its own (or, with ``threaded=False``,
    on whichever thread calls run_for or wait).

    Callbacks may block, or call get/put themselves: the I/O thread keeps reading
    meanwhile, so their replies still arrive.
    """

    def __init__(self, name: str, threaded: bool = True):
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
        # Queue items put (counted under _batch_lock, before the put) and run to their
        # end (by the running thread only): equal when everything queued has run.
        self._items_in = 0
        self._items_done = 0
        # When each batch was queued, in queue order, and when the one running now was:
        # see lag.
        self._batch_times: collections.deque = collections.deque()
        self._running_since: float | None = None
        self.threaded = threaded
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._run, name=name, daemon=True)
            self._thread.start()
        # Non-preemptive: the thread inside run_for/wait now, and a lock so that only one
        # thread at a time runs callbacks (they run in order, as on the callback thread).
        self._runner: threading.Thread | None = None
        self._run_lock = threading.Lock()

    def call(self, function, *args, **kwargs) -> None:
        self._put((function, args, kwargs))

    def _put(self, item) -> None:
        with self._batch_lock:
            self._items_in += 1
            self._queue.put(item)

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
                self._items_in += 1
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
        self._put((_nothing, (), {}))  # so that the check runs even if idle now

    def in_dispatch_thread(self) -> bool:
        current = threading.current_thread()
        return current is self._thread or current is self._runner

    def stop(self, timeout: float = 2.0) -> None:
        self._queue.put(None)
        if self._thread is not None and not self.in_dispatch_thread():
            self._thread.join(timeout)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every call queued before now has run (True) or timeout."""
        if self.in_dispatch_thread() or self.idle():
            return True
        done = threading.Event()
        self.call(done.set)
        return self.wait(done, timeout)

    def idle(self) -> bool:
        """Whether every call queued so far has run to its end."""
        return self._items_done == self._items_in

    def wait(self, flag, timeout: float | None) -> bool:
        """``flag.wait(timeout)`` (an Event or anything like it); without a thread of its
        own, run the queued calls on this one meanwhile, since one of them may be what
        sets the flag."""
        if self.threaded or self.in_dispatch_thread():
            return flag.wait(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not flag.is_set():
            left = WAIT_SLICE if deadline is None else deadline - time.monotonic()
            if left <= 0:
                break
            # In slices: another thread (the I/O thread) may set the flag, too.
            self.run_for(min(left, WAIT_SLICE), until=flag.is_set)
        return flag.is_set()

    def run_for(self, timeout: float | None, until=None) -> None:
        """Non-preemptive: run queued calls on this thread for ``timeout`` seconds (0:
        only those queued now), or until ``until()`` is true after one of them."""
        if self.threaded:
            raise RuntimeError("this dispatcher runs its calls on a thread of its own")
        with self._run_lock:
            self._runner = threading.current_thread()
            try:
                self._run(timeout, until)
            finally:
                self._runner = None

    def _run(self, timeout: float | None = None, until=None) -> None:
        get = self._queue.get
        deadline = None if timeout is None else time.monotonic() + timeout
        # With no time to wait, only what is queued now: a busy monitor must not keep a
        # poll() from returning.
        budget = self._queue.qsize() if timeout is not None and timeout <= 0 else -1
        while budget != 0:
            budget -= 1
            if deadline is None:
                item = get()
            else:
                try:
                    item = get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    return
            if item is None:
                return
            self._run_item(item)
            if until is not None and until():
                return

    def _run_item(self, item) -> None:
        if item.__class__ is list:
            self._run_batch(item)
            self._items_done += 1
            return
        function, args, kwargs = item
        try:
            function(*args, **kwargs)
        except Exception:
            logger.exception("callback %r raised", function)
        self._items_done += 1
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
        # Emptied once all of it has run: whoever queued into it can tell (see
        # Subscription.queued_in).
        calls.clear()
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
