"""Small thread-synchronisation helpers of the threaded client, made for memory: a flag
that makes its Event only when somebody waits, a done-marker on a bare lock, and
containers made at first use. Thousands of channels and PVs each have a few."""
from __future__ import annotations

import threading


class Done:
    """A one-shot event (set once, never cleared) on a bare lock.

    ``threading.Event`` builds a Condition, and a waiter lock at every wait; a request
    waiting for its one reply needs only a lock that ``set`` releases. Profiling
    ``ca.get`` showed the Event's Python-level bookkeeping costing ~10 us a round trip.
    """
    __slots__ = ("_lock", "_set")

    def __init__(self):
        self._lock = threading.Lock()
        self._lock.acquire()
        self._set = False

    def set(self) -> None:
        if not self._set:
            self._set = True
            try:
                self._lock.release()
            except RuntimeError:  # set by two threads at once: released already
                pass

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float | None = None) -> bool:
        if self._set:
            return True
        if self._lock.acquire(True, -1 if timeout is None else bounded(timeout)):
            self._lock.release()  # pass it on to the next waiter, if any
            return True
        return self._set


#: Guards the Events of Flag and the containers of made_when_used. Reentrant: making
#: either allocates, and allocating can run the garbage collector and with it
#: ``PV.__del__``, which clears the flag (and callbacks) of the PV being collected. With
#: a plain lock that thread waited for itself forever.
flag_lock = threading.RLock()


def made_when_used(attr: str, factory, doc: str) -> property:
    """A property for a container kept in ``attr`` (None until then), made at first use.

    Most channels and PVs never get callbacks of their own: an empty container each
    was ~0.1-0.2 kB apiece. Reading or assigning works as with a plain attribute
    (pyepics' are plain attributes); the owner's own code reads ``attr`` directly, so
    that running no callbacks makes no container.
    """
    def getter(self):
        value = getattr(self, attr, None)
        if value is None:
            with flag_lock:  # two threads adding the first callback: one container
                value = getattr(self, attr, None)
                if value is None:
                    value = factory()
                    setattr(self, attr, value)
        return value

    def setter(self, value):
        setattr(self, attr, value)

    return property(getter, setter, None, doc)


class Flag:
    """``threading.Event``'s set/clear/is_set/wait, with the Event made only for a waiter.

    An Event (a Condition, its lock and a deque) costs about 1 kB: with one per channel
    it was an eighth of the memory of 2,000 connected PVs, though most channels are
    connected before anybody waits for them. PV objects use it for the same reason.
    """
    __slots__ = ("_set", "_event")

    def __init__(self):
        self._set = False
        self._event: threading.Event | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if self._set:
            return  # already set (a monitor sets its flag on every update): no lock
        with flag_lock:
            self._set = True
            if self._event is not None:
                self._event.set()

    def clear(self) -> None:
        if not self._set:
            return  # clear already (its Event too, if any): no lock
        with flag_lock:
            self._set = False
            if self._event is not None:
                self._event.clear()

    def wait(self, timeout: float | None = None) -> bool:
        if self._set:
            return True
        with flag_lock:
            if self._event is None:
                self._event = threading.Event()
                if self._set:
                    self._event.set()
            event = self._event
        return event.wait(None if timeout is None else bounded(timeout))


def bounded(timeout: float) -> float:
    """A timeout that locks and events accept: 0 for negative or NaN, infinity capped
    (they raise OverflowError for it, where pyepics simply waits)."""
    return min(timeout, threading.TIMEOUT_MAX) if timeout > 0 else 0.0
