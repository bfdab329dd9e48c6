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
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def call(self, function, *args, **kwargs) -> None:
        self._queue.put((function, args, kwargs))

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
