"""Registering with the host's CA repeater (which forwards the beacons), as libca does:
ask again, each time 0.2 s later than the last (at most 5 s), until the repeater confirms;
if the third request finds none, start one. No I/O: the transport sends and starts."""
from __future__ import annotations

#: The attempt that starts a repeater of our own when none has answered yet.
START_AFTER = 3
MAX_INTERVAL = 5.0


class RepeaterRegistration:
    """How far the registration has got."""

    def __init__(self):
        self.confirmed = False
        self.attempts = 0

    def attempt(self) -> tuple[bool, float] | None:
        """The next registration request: None once the repeater confirmed, else (start a
        repeater before sending?, seconds until the request after this one)."""
        if self.confirmed:
            return None
        self.attempts += 1
        return self.attempts == START_AFTER, min(0.2 * self.attempts, MAX_INTERVAL)
