"""The search plan without I/O: backoff, answers, beacons, driven with made-up times."""
from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from epics_compat.engine import (BEACON_RESTART_INTERVAL, FIRST_SEARCH_DELAY,
                                 MAX_BEACON_SERVERS, SearchPlan)


@dataclass
class Name:
    name: str
    search_attempts: int = 0
    next_search: float = 0.0


def plan_with(*names: str, max_period: float = 5.0) -> tuple[SearchPlan, list[Name]]:
    plan = SearchPlan(max_period)
    entries = [Name(name) for name in names]
    for cid, entry in enumerate(entries, start=1):
        plan.add(cid, entry)
    return plan, entries


def send_times(plan: SearchPlan, until: float, step: float = 0.001) -> list[float]:
    """The times at which a transport that wakes when told would send a search."""
    times, now = [], 0.0
    while now <= until:
        if plan.due(now):
            times.append(round(now, 6))
        due = plan.next_due()
        if due is None:
            break
        now = max(due, now + step)
    return times


def test_a_new_name_is_searched_at_once_then_at_doubling_intervals_up_to_the_maximum():
    plan, _ = plan_with("a", max_period=0.3)
    times = send_times(plan, until=2.0)
    gaps = [round(b - a, 6) for a, b in zip(times, times[1:])]
    assert times[0] == 0.0
    assert gaps[:4] == [FIRST_SEARCH_DELAY, 2 * FIRST_SEARCH_DELAY, 4 * FIRST_SEARCH_DELAY,
                        8 * FIRST_SEARCH_DELAY]
    assert max(gaps) == 0.3 and gaps[-1] == 0.3


def test_names_due_together_are_sent_together_and_an_answer_stops_one():
    plan, (a, b) = plan_with("a", "b")
    assert [entry.name for _, entry in plan.due(0.0)] == ["a", "b"]
    assert plan.found(1) is a
    assert plan.found(1) is None  # a second answer: nothing to do
    assert [entry.name for _, entry in plan.due(1.0)] == ["b"]
    plan.found(2)
    assert plan.next_due() is None and plan.due(10.0) == []


def test_nothing_is_due_before_its_time():
    plan, _ = plan_with("a")
    plan.due(0.0)
    assert plan.due(FIRST_SEARCH_DELAY / 2) == []
    assert plan.next_due() == FIRST_SEARCH_DELAY


def test_a_regular_beacon_changes_nothing_and_an_anomaly_restarts_the_backoff():
    plan, (a,) = plan_with("a")
    for t in range(10):
        plan.due(float(t))
    assert a.search_attempts > 3
    server = ("10.0.0.1", 5064)
    assert plan.beacon(server, 7, now=10.0) == 10.0  # a server never seen: search now
    plan.restart(10.0)
    assert a.search_attempts == 0 and plan.next_due() == 0.0
    assert plan.beacon(server, 8, now=10.1) is None  # its regular beat
    assert plan.beacon(server, 0, now=10.2) == 10.0 + BEACON_RESTART_INTERVAL  # restarted
    assert plan.beacon(("10.0.0.2", 5064), 1, now=10.3) is None  # one restart is enough


def test_beacons_restart_nothing_when_every_name_is_found():
    plan, _ = plan_with("a")
    plan.found(1)
    assert plan.beacon(("10.0.0.1", 5064), 3, now=1.0) is None


def test_the_beacon_table_stays_bounded():
    plan = SearchPlan(5.0)
    for i in range(MAX_BEACON_SERVERS * 3):
        plan.beacon(("10.0.0.1", 1024 + i), i, now=float(i))
    assert len(plan.beacons) <= MAX_BEACON_SERVERS
    assert ("10.0.0.1", 1024 + MAX_BEACON_SERVERS * 3 - 1) in plan.beacons  # newest kept


@given(st.lists(st.tuples(st.sampled_from(["add", "found", "due", "beacon", "restart"]),
                          st.integers(1, 5), st.floats(0, 0.5)), max_size=60))
def test_any_sequence_keeps_the_plan_consistent(steps):
    plan, now = SearchPlan(1.0), 0.0
    entries = {cid: Name(f"n{cid}") for cid in range(1, 6)}
    for action, cid, dt in steps:
        now += dt
        if action == "add":
            plan.add(cid, entries[cid])
        elif action == "found":
            plan.found(cid)
        elif action == "due":
            for _, entry in plan.due(now):
                assert now < entry.next_search <= now + 1.0
        elif action == "beacon":
            when = plan.beacon(("h", cid), cid, now)
            assert when is None or now <= when <= now + BEACON_RESTART_INTERVAL
        else:
            plan.restart(now)
        due = plan.next_due()
        assert (due is None) == (not plan.searching)
