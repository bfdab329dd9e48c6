"""A counter that counts up every ``period`` seconds while ``running`` is On.
Default prefix ``ticker:``."""
from __future__ import annotations

from epics_compat.server.group import Group, periodic, pv
from epics_compat.server.runner import run

#: How often the clock looks whether a tick is due (seconds).
CLOCK = 0.05


class Ticker(Group):
    count = pv(0, read_only=True, doc="ticks so far")
    period = pv(1.0, units="s", precision=2, drive_low=0.05, drive_high=3600,
                doc="seconds between ticks")
    running = pv("On", enum_strs=["Off", "On"], doc="counting or not")

    def __init__(self, prefix: str = ""):
        super().__init__(prefix)
        self._since_tick = 0.0

    @periodic(CLOCK)
    def tick(self) -> None:
        if self.running.value != 1:
            return
        self._since_tick += CLOCK
        if self._since_tick >= self.period.value - 1e-9:
            self._since_tick = 0.0
            self.count.write(self.count.value + 1)


if __name__ == "__main__":
    run(Ticker, default_prefix="ticker:", description=__doc__.splitlines()[0])
