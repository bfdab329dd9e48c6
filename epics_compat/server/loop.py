"""``EventLoop``: one thread running a selector over the server's sockets, plus timers.

Handlers and timer callbacks run on the loop thread while holding ``lock``, the lock that
also guards every PV; other threads take the same lock to change PVs, so the protocol
state is only ever touched by one thread at a time. ``call_soon_threadsafe`` and
``wake`` let other threads get the loop's attention without waiting for a timeout.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import selectors
import socket
import threading
import time
from typing import Callable

logger = logging.getLogger("epics_compat.server")

Handler = Callable[[int], None]  # called with the selector event mask that is ready


class Timer:
    """A scheduled call; ``cancel()`` stops it from running."""
    __slots__ = ("when", "callback", "cancelled")

    def __init__(self, when: float, callback: Callable[[], None]):
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class EventLoop:
    """A selector loop with timers, run on a thread of its own by ``start``."""

    def __init__(self, lock: threading.RLock, name: str = "epics_compat.server"):
        self.lock = lock
        self.name = name
        self._selector = selectors.DefaultSelector()
        self._timers: list[tuple[float, int, Timer]] = []
        self._sequence = itertools.count()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._selector.register(self._wake_reader, selectors.EVENT_READ, self._drain_wake)
        self._thread: threading.Thread | None = None
        self._stopping = False

    # --- sockets -------------------------------------------------------------------------

    def register(self, sock: socket.socket, events: int, handler: Handler) -> None:
        self._selector.register(sock, events, handler)

    def modify(self, sock: socket.socket, events: int, handler: Handler) -> None:
        """Change the events watched for ``sock`` (0 stops watching it, keeping the entry)."""
        try:
            key = self._selector.get_key(sock)
        except (KeyError, ValueError):
            if events:
                self._selector.register(sock, events, handler)
            return
        if not events:
            self._selector.unregister(sock)
        elif key.events != events:
            self._selector.modify(sock, events, handler)

    def unregister(self, sock: socket.socket) -> None:
        try:
            self._selector.unregister(sock)
        except (KeyError, ValueError):
            pass

    # --- time ----------------------------------------------------------------------------

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` on the loop thread after ``delay`` seconds (thread-safe)."""
        timer = Timer(time.monotonic() + max(0.0, delay), callback)
        with self.lock:
            heapq.heappush(self._timers, (timer.when, next(self._sequence), timer))
        if not self.in_loop_thread():
            self.wake()
        return timer

    def call_soon_threadsafe(self, callback: Callable[[], None]) -> Timer:
        return self.call_later(0.0, callback)

    def in_loop_thread(self) -> bool:
        return threading.current_thread() is self._thread

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

    # --- running ---------------------------------------------------------------------------

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop thread and wait for it (callbacks in progress finish first)."""
        self._stopping = True
        self.wake()
        if self._thread is not None and not self.in_loop_thread():
            self._thread.join(timeout)
        self._thread = None

    def close(self) -> None:
        self._selector.close()
        self._wake_reader.close()
        self._wake_writer.close()

    def _run(self) -> None:
        while not self._stopping:
            with self.lock:
                timeout = max(0.0, self._timers[0][0] - time.monotonic()) \
                    if self._timers else None
            try:
                ready = self._selector.select(timeout)
            except OSError:  # a socket closed under us by another thread
                ready = []
            if self._stopping:
                break
            with self.lock:
                for key, mask in ready:
                    current = self._selector.get_map().get(key.fd)
                    if current is None or current.fileobj is not key.fileobj:
                        continue  # unregistered by an earlier handler of this round
                    self._call(current.data, mask & current.events)
                self._run_due_timers()

    def _run_due_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                self._call(timer.callback)

    def _call(self, callback: Callable, *args) -> None:
        try:
            callback(*args)
        except Exception:  # one bad handler must not take the server down
            logger.exception("error in server callback %r", callback)
