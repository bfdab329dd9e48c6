"""Flow control, as libca's: when to ask servers to hold monitor updates, and when to
let them flow again. No I/O: the transport reports its callback backlog and lag.

When FLOW_CONTROL_HOLD callbacks wait to run and the callback thread is FLOW_CONTROL_LAG
seconds or more behind (libca, too, holds only when it stays behind, not for a burst it
works off soon), servers are asked to hold updates (EVENTS_OFF: each keeps the newest of
a subscription and drops the others), and asked again (EVENTS_ON) once no more than
FLOW_CONTROL_RESUME wait. A callback slower than its updates then sees the newest values,
not an ever longer queue. Past FLOW_CONTROL_MAX waiting callbacks, updates are held
however fast they are worked off (memory: ~0.4 kB each).
"""
from __future__ import annotations

from typing import Callable

FLOW_CONTROL_HOLD = 5_000
FLOW_CONTROL_LAG = 0.25
FLOW_CONTROL_MAX = 50_000
FLOW_CONTROL_RESUME = 500


def should_hold(backlog: int, lag: Callable[[], float]) -> bool:
    """Whether callbacks are far enough behind to hold the servers' updates; ``lag``
    (seconds behind) is asked only when the backlog is large."""
    return backlog > FLOW_CONTROL_HOLD and (backlog > FLOW_CONTROL_MAX or
                                            lag() >= FLOW_CONTROL_LAG)


def resume_below() -> int:
    """Updates flow again once no more callbacks than this wait."""
    return FLOW_CONTROL_RESUME
