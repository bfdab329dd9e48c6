"""An IOC for the load test: ``count`` counters (``<prefix>c0`` ...), ``per_tick`` of
them incremented every 10 ms in turn, for ``python tests/load_ioc.py PREFIX COUNT
PER_TICK``. Served with epics_compat.server's runner (environment: EPICS_CAS_*)."""
from __future__ import annotations

import sys

from epics_compat.server.group import Group, periodic, pv
from epics_compat.server.runner import run

TICK = 0.01


def counters(count: int, per_tick: int) -> type:
    """A Group class with ``count`` counter PVs and a 100 Hz hook that counts them up."""
    declarations = {f"c{index}": pv(0) for index in range(count)}

    def __init__(self, prefix: str = "") -> None:
        Group.__init__(self, prefix)
        self.turn = 0
        self.all = [getattr(self, f"c{index}") for index in range(count)]

    @periodic(TICK)
    def tick(self) -> None:
        for _ in range(per_tick):
            counter = self.all[self.turn]
            counter.write(counter.value + 1)
            self.turn = (self.turn + 1) % count

    return type("Counters", (Group,), {**declarations, "__init__": __init__,
                                        "tick": tick})


if __name__ == "__main__":
    prefix, count, per_tick = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    run(counters(count, per_tick), default_prefix=prefix, argv=[])
