"""Circuit liveness and the retry delay of a failing server, with made-up times."""
from __future__ import annotations

import pytest

from epics_compat.engine import CONNECT_TIMEOUT, ECHO_TIMEOUT, SEND_ECHO, CircuitHealth, \
    RetryPolicy
from epics_compat.engine.circuits import FIRST_RETRY_DELAY, MAX_RETRY_DELAY, YOUNG_CIRCUIT

IDLE = 30.0


def test_a_circuit_that_never_connects_is_dropped_after_the_connect_timeout():
    health = CircuitHealth(now=100.0)
    assert health.check(100.0 + CONNECT_TIMEOUT, IDLE) is None
    assert health.check(100.0 + CONNECT_TIMEOUT + 0.1, IDLE) == "connection timed out"


def test_silence_brings_an_echo_and_an_unanswered_echo_drops_the_circuit():
    health = CircuitHealth(now=0.0)
    health.connected(1.0)
    assert health.check(1.0 + IDLE, IDLE) is None
    assert health.check(1.0 + IDLE + 0.1, IDLE) == SEND_ECHO
    health.echo_sent(31.1)
    assert health.check(31.1 + ECHO_TIMEOUT, IDLE) is None  # waiting for the reply
    assert "unresponsive" in health.check(31.1 + ECHO_TIMEOUT + 0.1, IDLE)


def test_anything_heard_answers_the_echo_and_restarts_the_idle_clock():
    health = CircuitHealth(now=0.0)
    health.connected(0.0)
    health.echo_sent(31.0)
    health.heard(32.0)
    assert health.check(40.0, IDLE) is None
    assert health.check(32.0 + IDLE + 0.1, IDLE) == SEND_ECHO


def test_a_server_whose_circuits_die_young_is_retried_ever_later_up_to_a_limit():
    retry, server = RetryPolicy(), ("10.0.0.1", 5064)
    delays = []
    for attempt in range(12):
        health = CircuitHealth(now=float(attempt))
        health.connected(float(attempt))
        delays.append(retry.delay_after_loss(server, health, attempt + 0.1))
    assert delays[:3] == [FIRST_RETRY_DELAY, 2 * FIRST_RETRY_DELAY, 4 * FIRST_RETRY_DELAY]
    assert delays[-1] == MAX_RETRY_DELAY
    # A circuit that served for a while is retried at once, and forgives the past.
    health = CircuitHealth(now=100.0)
    health.connected(100.0)
    assert retry.delay_after_loss(server, health, 100.0 + YOUNG_CIRCUIT) == 0.0
    health = CircuitHealth(now=200.0)
    assert retry.delay_after_loss(server, health, 200.5) == FIRST_RETRY_DELAY


def test_other_servers_are_not_held_back():
    retry = RetryPolicy()
    for _ in range(5):
        retry.delay_after_loss("bad", CircuitHealth(0.0), 0.1)
    assert retry.delay_after_loss("good", CircuitHealth(0.0), 0.1) == FIRST_RETRY_DELAY


def test_updates_are_held_only_when_callbacks_stay_behind():
    from epics_compat.engine import flow
    asked = []

    def lag(seconds):
        return lambda: asked.append(seconds) or seconds

    assert not flow.should_hold(flow.FLOW_CONTROL_HOLD, lag(10.0))
    assert asked == []  # a small backlog does not ask how late the callbacks are
    assert not flow.should_hold(flow.FLOW_CONTROL_HOLD + 1, lag(0.0))  # a burst
    assert flow.should_hold(flow.FLOW_CONTROL_HOLD + 1, lag(flow.FLOW_CONTROL_LAG))
    assert flow.should_hold(flow.FLOW_CONTROL_MAX + 1, lag(0.0))  # however fast
    assert flow.resume_below() == flow.FLOW_CONTROL_RESUME


def test_the_repeater_is_asked_ever_later_and_started_once_if_none_answers():
    from epics_compat.engine import RepeaterRegistration
    registration = RepeaterRegistration()
    attempts = [registration.attempt() for _ in range(30)]
    assert [start for start, _ in attempts].count(True) == 1 and attempts[2][0]
    delays = [delay for _, delay in attempts]
    assert delays[:3] == pytest.approx([0.2, 0.4, 0.6]) and max(delays) == 5.0
    registration.confirmed = True
    assert registration.attempt() is None


def test_a_beacon_speaks_for_its_own_address_or_for_its_sender():
    import caproto_core as core
    from epics_compat.engine import beacon_server
    own = core.RsrvIsUpResponse(13, 5070, 1, "10.0.0.9")
    assert beacon_server(own, ("10.0.0.1", 5065)) == ("10.0.0.9", 5070)
    unset = core.RsrvIsUpResponse(13, 5070, 1, "0.0.0.0")
    assert beacon_server(unset, ("10.0.0.1", 5065)) == ("10.0.0.1", 5070)
