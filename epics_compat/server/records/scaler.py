"""``Scaler``: a simulated synApps scaler record, with its user calcs.

Served: ``NAME.CNT`` (Done/Count), ``.CONT`` (OneShot/AutoCount), ``.TP`` (preset time, s),
``.T`` (elapsed time), ``.FREQ`` (clock rate), ``.VAL``, ``.NCH``, ``.NMi``/``.Si``/``.PRi``
for each channel, ``.RTYP``; and the user calcs ``NAME_calcEnable`` and ``NAME_calci``
(``.VAL`` and ``.CALC``, an expression of A..L = S1..S12).

CNT=1 counts for TP seconds: channel 1 counts the clock (FREQ per second), channel i
``rates[i]`` per second; S and T are updated every ``update_period`` while counting, and
at the end CNT drops back to 0 and the put that started the count completes. CNT=0
stops a count early (the same way). Counts are exact functions of the counting time
(``rate * t``, truncated), so two runs of the same count give the same numbers.
"""
from __future__ import annotations

import time
from typing import Any, Sequence

from caproto_core import AlarmSeverity, AlarmStatus

from ..pv import PV, Done
from ._base import SimRecord
from ._calc import CalcError, LETTERS, calc

DONE, COUNT = 0, 1


class Scaler(SimRecord):
    """A scaler record ``name`` of ``nchan`` channels; ``names`` and ``rates`` (counts
    per second) of the channels after the clock, ``freq`` the clock rate."""

    record_type = "scaler"

    def __init__(self, name: str, nchan: int = 8, *, freq: float = 1e7,
                 names: Sequence[str] = (), rates: Sequence[float] = (),
                 update_period: float = 0.1):
        super().__init__(name)
        self.nchan = nchan
        self.update_period = update_period
        self.rates = [freq] + [rates[i] if i < len(rates) else 1000.0 * (i + 1)
                               for i in range(nchan - 1)]
        self._pending: list[Done] = []
        self._started = 0.0
        self._tick_timer = None
        self.add("CNT", "enum", DONE, enum_strs=("Done", "Count"), on_put=self._put_CNT)
        self.add("CONT", "enum", 0, enum_strs=("OneShot", "AutoCount"))
        self.add("TP", "double", 1.0, precision=3, units="sec")
        self.add("T", "double", 0.0, precision=3, units="sec", read_only=True)
        self.add("FREQ", "double", freq, precision=3, units="Hz")
        self.add("VAL", "double", 0.0)
        self.add("NCH", "short", nchan, read_only=True)
        self.add("RTYP", "string", "scaler", read_only=True)
        for chan in range(1, nchan + 1):
            label = "clock" if chan == 1 else (names[chan - 2] if chan - 2 < len(names)
                                               else "")
            self.add(f"NM{chan}", "string", label)
            self.add(f"S{chan}", "long", 0, read_only=True)
            self.add(f"PR{chan}", "long", 0)
        self.calc_enable = PV(f"{name}_calcEnable", "enum", 0, enum_strs=("OFF", "ON"),
                              record_type="bo")
        self.calcs = []
        for chan in range(1, nchan + 1):
            value = PV(f"{name}_calc{chan}.VAL", "double", 0.0, record_type="calc",
                       on_put=self._refuse)
            expression = PV(f"{name}_calc{chan}.CALC", "string", "", record_type="calc")
            self.calcs.append((value, expression))

    @property
    def pvs(self) -> list[PV]:
        calcs = [pv for pair in self.calcs for pv in pair]
        return [*self.fields.values(), self.calc_enable, *calcs]

    @property
    def counting(self) -> bool:
        return bool(self.get("CNT"))

    def _put_CNT(self, pv: PV, value: Any, done: Done) -> None:
        if value:
            self._pending.append(done)
            if not self.counting:
                self._start()
            return
        self._finish()
        done()

    def _start(self) -> None:
        self.set("CNT", COUNT)
        for chan in range(1, self.nchan + 1):
            self.set(f"S{chan}", 0)
        self.set("T", 0.0)
        self._started = time.monotonic()
        self._schedule()

    def _schedule(self) -> None:
        remaining = self.get("TP") - (time.monotonic() - self._started)
        self._tick_timer = self.later(max(0.0, min(self.update_period, remaining)),
                                      self._tick)

    def _tick(self) -> None:
        self._tick_timer = None
        if not self.counting:
            return
        elapsed = time.monotonic() - self._started
        if elapsed >= self.get("TP"):
            self._finish()
        else:
            self._show(elapsed)
            self._schedule()

    def _show(self, elapsed: float) -> None:
        self.set("T", round(elapsed, 6))
        for chan, rate in enumerate(self.rates, start=1):
            self.set(f"S{chan}", int(rate * elapsed))

    def _finish(self) -> None:
        """The count ends: final counts (for exactly TP when it ran out), CNT back to 0,
        the user calcs, then the completions of the puts that started it."""
        if self._tick_timer is not None:
            self._tick_timer.cancel()
            self._tick_timer = None
        if self.counting:
            elapsed = min(time.monotonic() - self._started, self.get("TP"))
            self._show(elapsed)
            self._update_calcs()
            self.set("CNT", DONE)
        pending, self._pending = self._pending, []
        for done in pending:
            done()

    def _update_calcs(self) -> None:
        if not self.calc_enable.value:
            return
        counts = {letter: self.get(f"S{chan}")
                  for chan, letter in zip(range(1, self.nchan + 1), LETTERS[:12])}
        for value, expression in self.calcs:
            text = expression.value
            if text.strip():
                try:
                    value.write(calc(text, counts))
                except (CalcError, ArithmeticError):
                    value.write(0.0, status=AlarmStatus.CALC, severity=AlarmSeverity.INVALID_ALARM)

    def detach(self) -> None:
        self._tick_timer = None
        super().detach()
