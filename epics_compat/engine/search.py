"""When to search for which names, and what beacons do to that: libca's policy, no I/O.

A name is searched at once, then again after FIRST_SEARCH_DELAY, doubling up to the
configured maximum period. A beacon out of a server's regular beat (a new server, or one
that restarted) starts every unanswered name over from the first delay, at most once per
BEACON_RESTART_INTERVAL so that a flood of beacons does not become a flood of searches.

As libca, the first beacon heard from a server says nothing: a client that starts hears
every running server for the first time. The second says whether the server is new: it
is when the two came closer together than the time the client had been running before
the first (a server starting up beacons every few hundredths of a second).
"""
from __future__ import annotations

import heapq
import itertools
import logging
from typing import Generic, Iterable, Protocol, TypeVar

logger = logging.getLogger("epics_compat.search")

#: First search retry delay; it doubles up to the configured maximum period.
FIRST_SEARCH_DELAY = 0.02
#: Beacon anomalies restart the searches at most once in this many seconds (a later one
#: is put off, not lost).
BEACON_RESTART_INTERVAL = 0.5
#: At most this many names are searched for in one tick, and the next tick waits
#: SEARCH_PACE seconds: 50,000 names sent at once overflowed the servers' UDP buffers,
#: and every name lost there cost a round of retries (libca paces its searches too).
MAX_SEARCHES_PER_TICK = 1000
SEARCH_PACE = 0.01
#: Servers whose beacons are remembered; past this the oldest are forgotten (anyone can
#: send beacons: the table must stay bounded).
MAX_BEACON_SERVERS = 4096


def beacon_server(beacon, sender: tuple) -> tuple[str, int]:
    """The server a beacon (an RsrvIsUpResponse) speaks for: its own address, or the
    sender's when it gives none (0, or the "address of sender" marker)."""
    from caproto_core import ADDRESS_OF_SENDER
    host = sender[0] if beacon.parameter2 in (0, ADDRESS_OF_SENDER) else beacon.address
    return host, beacon.server_port


class Searchable(Protocol):
    """What the plan needs of a thing searched for; the transport's channel is one."""
    name: str
    search_attempts: int
    next_search: float


Entry = TypeVar("Entry", bound=Searchable)


class SearchPlan(Generic[Entry]):
    """The names not found yet, when each is next due, and the beacons seen.

    The times are kept in a heap, so that a tick costs what it sends, not the number of
    names still unanswered: 50,000 names made one after the other used to be scanned
    whole at every tick that sent the newest few.
    """

    def __init__(self, max_period: float, started: float = 0.0):
        self.max_period = max_period
        self.started = started  # when the client started (the clock of ``now`` below)
        self.searching: dict[int, Entry] = {}  # by search id (the channel's cid)
        #: (when, order, cid, entry); an item is stale once its entry was found or
        #: planned again (its next_search is no longer ``when``).
        self._times: list[tuple[float, int, int, Entry]] = []
        self._order = itertools.count()
        self._paced_until = 0.0  # a full tick was sent: the next waits until then
        #: server -> (id, time, how many heard: 1, or 2 for two or more)
        self.beacons: dict[tuple[str, int], tuple[int, float, int]] = {}
        self.restarted = -BEACON_RESTART_INTERVAL  # when beacons last restarted searching
        self.restart_due: float | None = None  # a restart put off until then

    def add(self, cid: int, entry: Entry) -> None:
        """Search for ``entry`` now, and from the first delay on."""
        entry.search_attempts = 0
        entry.next_search = 0.0
        self.searching[cid] = entry
        self._plan(cid, entry)

    def _plan(self, cid: int, entry: Entry) -> None:
        heapq.heappush(self._times, (entry.next_search, next(self._order), cid, entry))

    def _current(self, item: tuple) -> bool:
        when, _, cid, entry = item
        return self.searching.get(cid) is entry and entry is not None \
            and entry.next_search == when

    def found(self, cid: int) -> Entry | None:
        """Stop searching for ``cid`` (answered or cleared): its entry, or None if it was
        not being searched for (a second answer, or a stale one)."""
        entry = self.searching.pop(cid, None)
        if entry is not None:
            entry.next_search = 0.0
        return entry

    def due(self, now: float) -> list[tuple[int, Entry]]:
        """The searches to send now (at most MAX_SEARCHES_PER_TICK, the longest due
        first); each is then planned again, later by twice as long."""
        due: list[tuple[int, Entry]] = []
        seen: set[int] = set()
        if now < self._paced_until:
            return due
        times = self._times
        while times and times[0][0] <= now and len(due) < MAX_SEARCHES_PER_TICK:
            item = heapq.heappop(times)
            if self._current(item) and item[2] not in seen:  # added twice: once
                seen.add(item[2])
                due.append((item[2], item[3]))
        for cid, entry in due:
            delay = FIRST_SEARCH_DELAY * 2 ** min(entry.search_attempts, 30)
            entry.search_attempts += 1
            entry.next_search = now + min(delay, self.max_period)
            self._plan(cid, entry)
        if len(due) == MAX_SEARCHES_PER_TICK:
            self._paced_until = now + SEARCH_PACE
        return due

    def next_due(self) -> float | None:
        """When the next search is due (None if nothing is searched for)."""
        times = self._times
        while times and not self._current(times[0]):
            heapq.heappop(times)  # found or planned again since
        if not self.searching:
            self._times = []
            return None
        return max(times[0][0], self._paced_until)

    def search_now(self, entries: Iterable[Entry] | None = None) -> None:
        """Make ``entries`` (all by default) due at once, keeping their backoff: a name
        server circuit that just connected should hear every name without delay."""
        for entry in self.searching.values() if entries is None else entries:
            entry.next_search = 0.0
        self._replan()

    def _replan(self) -> None:
        self._times = [(entry.next_search, next(self._order), cid, entry)
                       for cid, entry in self.searching.items()]
        heapq.heapify(self._times)

    def beacon(self, server: tuple[str, int], beacon_id: int, now: float) -> float | None:
        """A beacon from ``server``. Returns when to restart searching (``now`` or later,
        then call ``restart``), or None when nothing is to be done."""
        previous = self.beacons.get(server)
        if previous is None:
            if len(self.beacons) >= MAX_BEACON_SERVERS:
                oldest = sorted(self.beacons, key=lambda s: self.beacons[s][1])
                for old in oldest[:MAX_BEACON_SERVERS // 4]:
                    del self.beacons[old]
            self.beacons[server] = (beacon_id, now, 1)
            return None  # the first heard: new, or only new to us (see the module's text)
        last_id, last_time, heard = previous
        self.beacons[server] = (beacon_id, now, 2)
        if beacon_id != (last_id + 1) & 0xFFFFFFFF:
            anomaly = True  # its ids started again: it restarted
        elif heard == 1:
            anomaly = now - last_time <= last_time - self.started  # a server starting up
        else:
            anomaly = False  # the regular beat of a server we know
        if not anomaly:
            return None
        logger.debug("beacon anomaly from %s:%d: searching again", *server)
        if not self.searching or self.restart_due is not None:
            return None
        when = max(now, self.restarted + BEACON_RESTART_INTERVAL)
        self.restart_due = when
        return when

    def restart(self, now: float) -> None:
        """Search for every name not found yet now, and from the first delay on."""
        self.restarted = now
        self.restart_due = None
        for entry in self.searching.values():
            entry.search_attempts = 0
            entry.next_search = 0.0
        self._replan()
