"""The callback thread: user callbacks run here, never on the socket reader."""
from __future__ import annotations

import logging
import queue
import threading

logger = logging.getLogger("epics_compat.dispatch")


class Dispatcher:
    """Runs queued calls in order on one thread of its own.

    Callbacks may block, or call get/put themselves: the I/O thread keeps reading
    meanwhile, so their replies still arrive.
    """

    def __init__(self, name: str):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._below: tuple | None = None  # (count, function): see notify_below
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def call(self, function, *args, **kwargs) -> None:
        self._queue.put((function, args, kwargs))

    def backlog(self) -> int:
        """How many calls are queued and not yet run."""
        return self._queue.qsize()

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
        while True:
            item = self._queue.get()
            if item is None:
                return
            function, args, kwargs = item
            try:
                function(*args, **kwargs)
            except Exception:
                logger.exception("callback %r raised", function)
            if self._below is not None and self._queue.qsize() <= self._below[0]:
                below, self._below = self._below, None
                try:
                    below[1]()
                except Exception:
                    logger.exception("%r raised", below[1])


def _nothing() -> None:
    pass
