"""The search plan without I/O: backoff, answers, beacons, driven with made-up times."""
from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from epics_compat.engine import (BEACON_RESTART_INTERVAL, FIRST_SEARCH_DELAY,
                                 MAX_BEACON_SERVERS, SearchPlan)
from epics_compat.engine.search import MAX_SEARCHES_PER_TICK, SEARCH_PACE


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
    assert plan.beacon(server, 7, now=10.0) is None  # the first heard: nothing yet
    # Its second 0.02 s later, the client running for 10 s: a server starting up.
    assert plan.beacon(server, 8, now=10.02) == 10.02
    plan.restart(10.02)
    assert a.search_attempts == 0 and plan.next_due() == 0.0
    assert plan.beacon(server, 9, now=10.1) is None  # its regular beat
    assert plan.beacon(server, 0, now=10.2) == 10.02 + BEACON_RESTART_INTERVAL  # restarted
    other = ("10.0.0.2", 5064)
    plan.beacon(other, 1, now=10.3)
    assert plan.beacon(other, 2, now=10.31) is None  # one restart is enough


def test_servers_heard_first_as_the_client_starts_are_not_new():
    """As libca: the first beacon of a server is not an anomaly, and the second is only
    when it comes sooner after the first than the client had been running before it."""
    plan = SearchPlan(5.0, started=100.0)
    plan.add(1, Name("a"))
    running = ("10.0.0.1", 5064)  # beaconing every 15 s for long
    assert plan.beacon(running, 500, now=100.5) is None
    assert plan.beacon(running, 501, now=115.5) is None
    assert plan.beacon(running, 502, now=130.5) is None
    starting = ("10.0.0.2", 5064)  # started 60 s after the client
    assert plan.beacon(starting, 0, now=160.0) is None
    assert plan.beacon(starting, 1, now=160.02) == 160.02
    plan = SearchPlan(5.0, started=100.0)
    plan.add(1, Name("a"))
    restarted = ("10.0.0.3", 5064)  # heard once, then its ids start again
    assert plan.beacon(restarted, 40, now=170.0) is None
    assert plan.beacon(restarted, 0, now=175.0) == 175.0


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
            due = plan.due(now)
            assert len({cid for cid, _ in due}) == len(due)  # each name once
            for cid, entry in due:
                assert plan.searching[cid] is entry
                assert now < entry.next_search <= now + 1.0
        elif action == "beacon":
            when = plan.beacon(("h", cid), cid, now)
            assert when is None or now <= when <= now + BEACON_RESTART_INTERVAL
        else:
            plan.restart(now)
        due = plan.next_due()
        assert (due is None) == (not plan.searching)
        # Whatever is searched for and due is sent at the next tick, none is forgotten.
        waiting = [e for e in plan.searching.values() if e.next_search <= now]
        assert not waiting or (due is not None and due <= now)


def test_a_name_found_and_searched_for_again_is_sent_once():
    plan, (a,) = plan_with("a")
    plan.found(1)
    plan.add(1, a)
    assert [cid for cid, _ in plan.due(0.0)] == [1]


def test_a_tick_costs_what_it_sends_not_what_is_searched_for():
    plan = SearchPlan(5.0)
    names = [Name(f"n{i}") for i in range(20_000)]
    for cid, name in enumerate(names):
        plan.add(cid, name)
    sent, now = 0, 0.0
    while sent < 20_000:  # the first searches of all, a tick's worth at a time
        sent += len(plan.due(now))
        now = plan.next_due()
    calls = []
    original = plan._current
    plan._current = lambda item: calls.append(item) or original(item)
    plan.add(20_000, Name("new"))
    due = plan.due(now)
    assert due[0][0] == 20_000  # the newcomer is due longest (since it was added)
    assert len(calls) <= len(due) + 1  # what was sent was looked at, not all 20,001


def test_a_burst_of_names_is_searched_for_a_tick_at_a_time():
    plan = SearchPlan(5.0)
    for cid in range(2 * MAX_SEARCHES_PER_TICK + 500):
        plan.add(cid, Name(f"n{cid}"))
    assert len(plan.due(0.0)) == MAX_SEARCHES_PER_TICK
    assert plan.due(SEARCH_PACE / 2) == []  # the servers get time to answer
    assert plan.next_due() == SEARCH_PACE
    assert len(plan.due(SEARCH_PACE)) == MAX_SEARCHES_PER_TICK
    # Longest due first: the last newcomers (due since 0), then the first retries.
    later = [cid for cid, _ in plan.due(2 * SEARCH_PACE + FIRST_SEARCH_DELAY)]
    assert len(later) == MAX_SEARCHES_PER_TICK
    assert later[:2] == [2 * MAX_SEARCHES_PER_TICK, 2 * MAX_SEARCHES_PER_TICK + 1]
    assert later[500:502] == [0, 1]
