"""``HandlerRunner``: where the code of PV groups runs (write handlers, startup and
periodic hooks), away from the server thread that answers clients.

An asyncio loop on a thread of its own runs coroutine handlers; plain functions run in
its thread pool, so a blocking one blocks only itself. Writes to one PV are handled one
after the other (``serialized``), writes to different PVs side by side: a slow handler
holds up only the clients of its own PV.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import threading
from typing import Any, Awaitable, Callable, Hashable

logger = logging.getLogger("epics_compat.server")


class HandlerRunner:
    """An asyncio loop on a daemon thread; ``start()``, ``stop()``."""

    def __init__(self, name: str = "epics_compat.server.handlers"):
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task] = set()

    @property
    def running(self) -> bool:
        return self._loop is not None

    def start(self) -> HandlerRunner:
        if self._loop is not None:
            return self
        loop = asyncio.new_event_loop()
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(
            thread_name_prefix=self.name))
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        ready.wait()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel what is running (periodic hooks, handlers) and stop the thread."""
        loop, self._loop = self._loop, None
        if loop is None:
            return

        async def cancel_all() -> None:
            tasks = [t for t in self._tasks if not t.done()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            loop.stop()

        asyncio.run_coroutine_threadsafe(cancel_all(), loop)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if not loop.is_running():
            loop.close()  # the thread pool is shut down without waiting for handlers
        self._thread = None
        self._locks.clear()

    def in_runner_thread(self) -> bool:
        return self._thread is threading.current_thread()

    # --- running code -------------------------------------------------------------------

    def spawn(self, job: Callable[[], Awaitable[Any]], what: str) -> concurrent.futures.Future:
        """Run the coroutine function ``job`` on the loop (from any thread); errors are
        logged with ``what``."""
        if self._loop is None:
            raise RuntimeError(f"{what}: the handler runner is not running")

        async def guarded() -> Any:
            task = asyncio.current_task()
            assert task is not None  # a coroutine runs in a task
            self._tasks.add(task)
            try:
                return await job()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("error in %s", what)
                raise
            finally:
                self._tasks.discard(task)

        return asyncio.run_coroutine_threadsafe(guarded(), self._loop)

    async def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """Call a coroutine function, or a plain one in the thread pool; await the result."""
        if inspect.iscoroutinefunction(function):
            return await function(*args)
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(None, function, *args)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def serialized(self, key: Hashable, job: Callable[[], Awaitable[Any]]) -> Any:
        """Await ``job()`` after every earlier job with the same ``key`` has finished."""
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            return await job()

    async def every(self, period: float, function: Callable[[], Any], what: str) -> None:
        """Call ``function`` every ``period`` seconds (on a fixed schedule) until cancelled."""
        loop = asyncio.get_running_loop()
        next_time = loop.time()
        while True:
            try:
                await self.call(function)
            except asyncio.CancelledError:
                raise
            except Exception:  # a failing tick is logged; the next one still comes
                logger.exception("error in %s", what)
            next_time += period
            now = loop.time()
            if next_time < now:  # fell behind: skip the missed ticks
                next_time = now
            await asyncio.sleep(next_time - now)
