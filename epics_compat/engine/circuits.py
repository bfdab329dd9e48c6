"""Whether a circuit is alive, and how soon to try a server again: libca's rules, no I/O.

A circuit that does not connect within CONNECT_TIMEOUT is dropped. One silent for the
connection timeout (EPICS_CA_CONN_TMO) is sent an echo; no answer within ECHO_TIMEOUT
drops it. A circuit lost young (refused, reset or garbled within YOUNG_CIRCUIT seconds of
connecting) counts against its server: its channels search again after a delay that
doubles with each such loss in a row, so that a broken server is not hammered; one lost
after serving a while is searched for again at once (a restarted IOC comes back quickly).
"""
from __future__ import annotations

from typing import Hashable

#: Seconds to wait for a TCP connection to a server that answered a search.
CONNECT_TIMEOUT = 5.0
#: Seconds to wait for an echo reply before declaring a silent circuit dead.
ECHO_TIMEOUT = 5.0
YOUNG_CIRCUIT = 2.0
FIRST_RETRY_DELAY = 0.05
MAX_RETRY_DELAY = 10.0

#: What ``CircuitHealth.check`` asks the transport to do.
SEND_ECHO = "send echo"


class CircuitHealth:
    """The times that say whether one circuit is alive."""
    __slots__ = ("connect_deadline", "connected_at", "last_heard", "echo_sent_at")

    def __init__(self, now: float):
        self.connect_deadline = now + CONNECT_TIMEOUT
        self.connected_at: float | None = None
        self.last_heard = now
        self.echo_sent_at: float | None = None

    def connected(self, now: float) -> None:
        self.connected_at = self.last_heard = now

    def heard(self, now: float) -> None:
        """Anything received counts as a sign of life (an echo reply too)."""
        self.last_heard = now
        self.echo_sent_at = None

    def check(self, now: float, idle_timeout: float) -> str | None:
        """What to do now: None, SEND_ECHO (then call ``echo_sent``), or the reason to
        drop the circuit."""
        if self.connected_at is None:
            return "connection timed out" if now > self.connect_deadline else None
        if self.echo_sent_at is not None:
            if now - self.echo_sent_at > ECHO_TIMEOUT:
                return "no reply to echo: server unresponsive"
            return None
        return SEND_ECHO if now - self.last_heard > idle_timeout else None

    def echo_sent(self, now: float) -> None:
        self.echo_sent_at = now


class RetryPolicy:
    """How long the channels of a lost circuit wait before searching again."""

    def __init__(self):
        self.young_losses: dict[Hashable, int] = {}  # server -> young losses in a row

    def delay_after_loss(self, server: Hashable, health: CircuitHealth, now: float) -> float:
        if health.connected_at is not None and now - health.connected_at >= YOUNG_CIRCUIT:
            self.young_losses.pop(server, None)
            return 0.0
        losses = self.young_losses.get(server, 0) + 1
        self.young_losses[server] = losses
        return min(FIRST_RETRY_DELAY * 2 ** (losses - 1), MAX_RETRY_DELAY)
