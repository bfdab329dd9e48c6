"""When to search for which names, and what beacons do to that: libca's policy, no I/O.

A name is searched at once, then again after FIRST_SEARCH_DELAY, doubling up to the
configured maximum period. A beacon out of a server's regular beat (a new server, or one
that restarted) starts every unanswered name over from the first delay, at most once per
BEACON_RESTART_INTERVAL so that a flood of beacons does not become a flood of searches.
"""
from __future__ import annotations

import logging
from typing import Iterable, Protocol

logger = logging.getLogger("epics_compat.search")

#: First search retry delay; it doubles up to the configured maximum period.
FIRST_SEARCH_DELAY = 0.02
#: Beacon anomalies restart the searches at most once in this many seconds (a later one
#: is put off, not lost).
BEACON_RESTART_INTERVAL = 0.5
#: Servers whose beacons are remembered; past this the oldest are forgotten (anyone can
#: send beacons: the table must stay bounded).
MAX_BEACON_SERVERS = 4096


class Searchable(Protocol):
    """What the plan needs of a thing searched for; the transport's channel is one."""
    name: str
    search_attempts: int
    next_search: float


class SearchPlan:
    """The names not found yet, when each is next due, and the beacons seen."""

    def __init__(self, max_period: float):
        self.max_period = max_period
        self.searching: dict[int, Searchable] = {}  # by search id (the channel's cid)
        self.beacons: dict[tuple[str, int], tuple[int, float]] = {}  # server -> (id, time)
        self.restarted = -BEACON_RESTART_INTERVAL  # when beacons last restarted searching
        self.restart_due: float | None = None  # a restart put off until then

    def add(self, cid: int, entry: Searchable) -> None:
        """Search for ``entry`` now, and from the first delay on."""
        entry.search_attempts = 0
        entry.next_search = 0.0
        self.searching[cid] = entry

    def found(self, cid: int) -> Searchable | None:
        """Stop searching for ``cid`` (answered or cleared): its entry, or None if it was
        not being searched for (a second answer, or a stale one)."""
        entry = self.searching.pop(cid, None)
        if entry is not None:
            entry.next_search = 0.0
        return entry

    def due(self, now: float) -> list[tuple[int, Searchable]]:
        """The searches to send now; each is then planned again, later by twice as long."""
        due = [(cid, entry) for cid, entry in self.searching.items()
               if entry.next_search <= now]
        for _, entry in due:
            delay = FIRST_SEARCH_DELAY * 2 ** min(entry.search_attempts, 30)
            entry.search_attempts += 1
            entry.next_search = now + min(delay, self.max_period)
        return due

    def next_due(self) -> float | None:
        """When the next search is due (None if nothing is searched for)."""
        if not self.searching:
            return None
        return min(entry.next_search for entry in self.searching.values())

    def search_now(self, entries: Iterable[Searchable] | None = None) -> None:
        """Make ``entries`` (all by default) due at once, keeping their backoff: a name
        server circuit that just connected should hear every name without delay."""
        for entry in self.searching.values() if entries is None else entries:
            entry.next_search = 0.0

    def beacon(self, server: tuple[str, int], beacon_id: int, now: float) -> float | None:
        """A beacon from ``server``. Returns when to restart searching (``now`` or later,
        then call ``restart``), or None when nothing is to be done."""
        previous = self.beacons.get(server)
        if previous is None and len(self.beacons) >= MAX_BEACON_SERVERS:
            oldest = sorted(self.beacons, key=lambda s: self.beacons[s][1])
            for old in oldest[:MAX_BEACON_SERVERS // 4]:
                del self.beacons[old]
        self.beacons[server] = (beacon_id, now)
        if previous is not None and beacon_id == (previous[0] + 1) & 0xFFFFFFFF:
            return None  # the regular beat of a server we know
        if previous is not None or self.searching:
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
