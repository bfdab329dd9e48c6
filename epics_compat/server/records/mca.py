"""``Mca``: a simulated MCA record (synApps mca), acquiring into its spectrum.

Served: ``NAME.VAL`` (the spectrum, ``nmax`` channels of LONG), ``.NORD``, ``.NUSE``,
``.NMAX``, ``.CALO/.CALS/.CALQ`` (energy calibration), ``.TTH``, ``.EGU``, ``.PRTM`` and
``.PLTM`` (preset real and live time, 0: none), ``.ERTM/.ELTM`` (elapsed), ``.IDTIM``,
``.DWEL``, ``.ACQG`` (Done/Acquiring), ``.STRT``, ``.STOP``, ``.ERAS``, ``.ERST``
(erase and start), ``.RTYP``, and for the 32 ROIs ``.RnLO/.RnHI/.RnNM/.RnBG`` with their
sums ``.Rn`` and net sums ``.RnN``.

STRT=1 (or ERST=1) acquires: every ``update_period`` the spectrum becomes
``floor(rate[k] * ERTM)`` for a fixed spectrum of two peaks on a flat background, until
ERTM reaches PRTM (or PLTM); then ACQG drops to 0 and the start put completes. A full
preset gives exactly ``floor(rate[k] * PRTM)``. STOP=1 stops early. ROI sums follow the
spectrum and the ROI limits: ``Rn`` sums channels LO..HI, ``RnN`` subtracts a
background, the mean of RnBG channels each side times the ROI width.
"""
from __future__ import annotations

import math
import time
from typing import Any, Sequence

from ..pv import PV, Done
from ._base import SimRecord

MAX_ROIS = 32


def default_rates(nmax: int) -> list[float]:
    """Counts per second per channel: two Gaussian peaks on a flat background."""
    peaks = ((0.3 * nmax, 0.01 * nmax + 1, 400.0), (0.6 * nmax, 0.02 * nmax + 1, 250.0))
    return [5.0 + sum(height * math.exp(-0.5 * ((k - center) / width) ** 2)
                      for center, width, height in peaks) for k in range(nmax)]


class Mca(SimRecord):
    """An MCA record ``name`` of ``nmax`` channels counting ``rates`` per second."""

    record_type = "mca"

    def __init__(self, name: str, nmax: int = 2048, *, rates: Sequence[float] | None = None,
                 calibration: tuple[float, float, float] = (0.0, 0.01, 0.0),
                 update_period: float = 0.1):
        super().__init__(name)
        self.nmax = nmax
        self.rates = list(rates) if rates is not None else default_rates(nmax)
        self.update_period = update_period
        self._pending: list[Done] = []
        self._started = 0.0
        self._before = 0.0  # time acquired before this start
        self._tick_timer = None
        offset, slope, quad = calibration
        self.add("VAL", "long", [0] * nmax, count=nmax, read_only=True)
        self.add("NORD", "long", nmax, read_only=True)
        self.add("NUSE", "long", nmax)
        self.add("NMAX", "long", nmax, read_only=True)
        self.add("CALO", "double", offset, precision=4)
        self.add("CALS", "double", slope, precision=6)
        self.add("CALQ", "double", quad, precision=6)
        self.add("TTH", "double", 0.0)
        self.add("EGU", "string", "keV")
        for field in ("PRTM", "PLTM", "DWEL"):
            self.add(field, "double", 0.0, precision=3, units="sec")
        for field in ("ERTM", "ELTM", "IDTIM"):
            self.add(field, "double", 0.0, precision=3, units="sec", read_only=True)
        self.add("ACQG", "enum", 0, enum_strs=("Done", "Acquiring"), read_only=True)
        self.add("STRT", "short", 0, on_put=self._put_start)
        self.add("ERST", "short", 0, on_put=self._put_start)
        self.add("STOP", "short", 0, on_put=self._put_STOP)
        self.add("ERAS", "short", 0, on_put=self._put_ERAS)
        self.add("RTYP", "string", "mca", read_only=True)
        for roi in range(MAX_ROIS):
            update = (lambda value, roi=roi: self._update_roi(roi))
            self.add(f"R{roi}LO", "long", -1, on_change=update)
            self.add(f"R{roi}HI", "long", -1, on_change=update)
            self.add(f"R{roi}BG", "long", 1, on_change=update)
            self.add(f"R{roi}NM", "string", "")
            self.add(f"R{roi}", "double", 0.0, read_only=True)
            self.add(f"R{roi}N", "double", 0.0, read_only=True)

    @property
    def acquiring(self) -> bool:
        return bool(self.get("ACQG"))

    @property
    def spectrum(self) -> list[int]:
        return list(self.fields["VAL"].values)

    def set_spectrum(self, counts: Sequence[int]) -> None:
        """Replace the spectrum (NORD follows) and update the ROI sums."""
        self.set("VAL", list(counts))
        self.set("NORD", len(counts))
        for roi in range(MAX_ROIS):
            self._update_roi(roi)

    def erase(self) -> None:
        self.set_spectrum([0] * self.get("NUSE"))
        self._before = 0.0
        self.set("ERTM", 0.0)
        self.set("ELTM", 0.0)

    # --- acquisition ---------------------------------------------------------------------------

    def _put_start(self, pv: PV, value: Any, done: Done) -> None:
        if not value:
            done()
            return
        if pv is self.fields["ERST"]:
            self.erase()
        self._pending.append(done)
        if not self.acquiring:
            self.start()

    def start(self) -> None:
        self.set("ACQG", 1)
        self._started = time.monotonic()
        self._schedule()

    def _preset(self) -> float:
        presets = [t for t in (self.get("PRTM"), self.get("PLTM")) if t > 0]
        return min(presets) if presets else math.inf

    def _schedule(self) -> None:
        remaining = self._preset() - self._acquired()
        self._tick_timer = self.later(max(0.0, min(self.update_period, remaining)),
                                      self._tick)

    def _acquired(self) -> float:
        return self._before + (time.monotonic() - self._started)

    def _tick(self) -> None:
        self._tick_timer = None
        if not self.acquiring:
            return
        if self._acquired() >= self._preset():
            self.stop()
        else:
            self._show(self._acquired())
            self._schedule()

    def _show(self, acquired: float) -> None:
        nuse = self.get("NUSE")
        self.set_spectrum([int(rate * acquired) for rate in self.rates[:nuse]])
        self.set("ERTM", round(acquired, 6))
        self.set("ELTM", round(acquired, 6))

    def stop(self) -> None:
        """End the acquisition now (at the preset time if it has run out)."""
        if self._tick_timer is not None:
            self._tick_timer.cancel()
            self._tick_timer = None
        if self.acquiring:
            acquired = min(self._acquired(), self._preset())
            self._show(acquired)
            self._before = acquired
            self.set("ACQG", 0)
        pending, self._pending = self._pending, []
        for done in pending:
            done()

    def _put_STOP(self, pv: PV, value: Any, done: Done) -> None:
        if value:
            self.stop()
        done()

    def _put_ERAS(self, pv: PV, value: Any, done: Done) -> None:
        if value:
            self.erase()
            if self.acquiring:
                self._started = time.monotonic()
        done()

    def detach(self) -> None:
        self._tick_timer = None
        super().detach()

    # --- regions of interest ------------------------------------------------------------------

    def _update_roi(self, roi: int) -> None:
        lo, hi = self.get(f"R{roi}LO"), self.get(f"R{roi}HI")
        data = self.fields["VAL"].values
        if lo < 0 or hi < lo or lo >= len(data):
            total = net = 0.0
        else:
            hi = min(hi, len(data) - 1)
            total = float(sum(data[lo:hi + 1]))
            width = max(1, self.get(f"R{roi}BG"))
            sides = list(data[max(0, lo - width):lo]) + list(data[hi + 1:hi + 1 + width])
            background = sum(sides) / len(sides) if sides else 0.0
            net = total - background * (hi - lo + 1)
        self.set(f"R{roi}", total)
        self.set(f"R{roi}N", net)
