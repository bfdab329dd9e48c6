"""``ServerHooks``: the questions a running server asks before it acts.

The defaults serve everything normally. A test's fault injector (``faults.Faults``)
overrides them to make the server hang, answer late, refuse channels or deny writes;
nothing else in the server knows about faults.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .pv import PV


class ServerHooks:
    """Serve normally: answer at once, refuse nothing."""

    #: While True the server answers nothing (searches, requests, monitors, new circuits).
    paused: bool = False
    #: Seconds every answer (and search reply) waits before it is sent.
    reply_delay: float = 0.0

    def refuses_channel(self, name: str, pv: PV) -> bool:
        """True to answer a channel creation for ``name`` with CREATE_CH_FAIL."""
        return False

    def request_status(self, pv: PV, request: str) -> int | None:
        """An ECA status to refuse ``request`` ('read', 'write', 'subscribe') with, or None."""
        return None

    def denies_write(self, pv: PV) -> bool:
        """True to take write access to ``pv`` away from clients."""
        return False
