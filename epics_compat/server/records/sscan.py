"""``Sscan``: a simulated synApps sscan record (one-dimensional step scans).

Served: ``NAME.EXSC`` (1 runs the scan; a put with completion completes when it is
done; 0 aborts), ``.NPTS``, ``.MPTS``, ``.CPT``, ``.SMSG``, ``.BUSY``, ``.PDLY``,
``.DDLY``, ``.PAUS``, ``.PASM``, ``.DATA``, ``.CMND``, ``.NAME``, ``.RTYP``; for the 4
positioners ``PiPV`` (drive PV), ``RiPV`` (readback PV), ``PiSP/EP/SI/CP/WD`` (start, end,
step, center, width), ``PiSM`` (LINEAR/TABLE/FLY), ``PiAR`` (ABSOLUTE/RELATIVE), ``PiPA``
(table), ``PiRA`` (readbacks), ``PiCV``, ``PiNV``; for the 4 triggers ``TiPV``, ``TiCD``
(value written), ``TiNV``; for the 70 detectors ``DnnPV``, ``DnnDA`` (data), ``DnnCV``,
``DnnNV``.

At each point the scan moves every positioner (puts with completion, waiting for all),
waits PDLY, fires every trigger (puts with completion, waiting for all), waits DDLY,
then reads the positioners' readbacks and the detectors into their arrays and counts
CPT up. When done, positioners go where PASM says (STAY, START POS, PRIOR POS; the other
modes stay), the arrays are posted, DATA=1, BUSY and EXSC go back to 0 and the EXSC put
completes. Links resolve to PVs of the same server only; a named PV that is not there
is reported in its ``..NV`` field (1) and aborts the scan with a message in SMSG.

Linear positions are SP + i * SI. Changing SP, EP or NPTS recomputes SI; changing SI
recomputes NPTS (up to MPTS) and then EP; CP and WD follow SP and EP and set them.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Callable

from caproto_core import ChannelType

from ..pv import PV, Done
from ._base import SimRecord

logger = logging.getLogger("epics_compat.server")

NUM_POSITIONERS = 4
NUM_TRIGGERS = 4
NUM_DETECTORS = 70
LINEAR, TABLE, FLY = range(3)
STAY, START_POS, PRIOR_POS = range(3)
PASM_MODES = ("STAY", "START POS", "PRIOR POS", "PEAK POS", "VALLEY POS", "+EDGE POS",
              "-EDGE POS", "CNTR OF MASS")
#: ..NV: the link's state.
PV_OK, PV_MISSING = 0, 1


class Sscan(SimRecord):
    """An sscan record ``name`` holding up to ``mpts`` points."""

    record_type = "sscan"

    def __init__(self, name: str, mpts: int = 100):
        super().__init__(name)
        self.mpts = mpts
        self._pending: list[Done] = []
        self._running = False
        self._positions: list[list[float]] = []
        self._prior: dict[int, float] = {}
        self._data: dict[str, list[float]] = {}
        self.add("EXSC", "short", 0, on_put=self._put_EXSC)
        self.add("NPTS", "long", 10, on_change=lambda value: self._npts_changed())
        self.add("MPTS", "long", mpts, read_only=True)
        self.add("CPT", "long", 0, read_only=True)
        self.add("BUSY", "enum", 0, enum_strs=("Done", "Busy"), read_only=True)
        self.add("DATA", "enum", 0, enum_strs=("NEW DATA", "SCAN DONE"), read_only=True)
        self.add("SMSG", "string", "")
        self.add("NAME", "string", name)
        self.add("RTYP", "string", "sscan", read_only=True)
        self.add("VAL", "double", 0.0)
        self.add("CMND", "enum", 0, enum_strs=("CLEAR MSG", "CHECK LIMITS", "PREVIEW SCAN",
                                                "CLEAR all PV's", "CLEAR pos PV's",
                                                "CLEAR PV's, etc"))
        self.add("PDLY", "double", 0.0, precision=3, units="sec")
        self.add("DDLY", "double", 0.0, precision=3, units="sec")
        self.add("PAUS", "enum", 0, enum_strs=("GO", "PAUSE"))
        self.add("PASM", "enum", STAY, enum_strs=PASM_MODES)
        for i in range(1, NUM_POSITIONERS + 1):
            self._add_positioner(i)
        for i in range(1, NUM_TRIGGERS + 1):
            self._add_link(f"T{i}")
            self.add(f"T{i}CD", "double", 1.0)
        for i in range(1, NUM_DETECTORS + 1):
            self._add_link(f"D{i:02d}")
            self.add(f"D{i:02d}DA", "float", [0.0], count=mpts, read_only=True)
            self.add(f"D{i:02d}CV", "double", 0.0, read_only=True)

    def _add_link(self, stem: str) -> None:
        def changed(value: Any) -> None:
            self._check_link(stem)
        self.add(f"{stem}PV", "string", "", on_change=changed)
        self.add(f"{stem}NV", "long", PV_OK, read_only=True)

    def _add_positioner(self, i: int) -> None:
        stem = f"P{i}"
        self._add_link(stem)
        self.add(f"R{i}PV", "string", "")
        for field, recompute in (("SP", self._ends_changed), ("EP", self._ends_changed),
                                 ("SI", self._step_changed), ("CP", self._center_changed),
                                 ("WD", self._center_changed)):
            self.add(stem + field, "double", 0.0, on_change=_calling(recompute, i))
        self.add(f"{stem}SM", "enum", LINEAR, enum_strs=("LINEAR", "TABLE", "FLY"))
        self.add(f"{stem}AR", "enum", 0, enum_strs=("ABSOLUTE", "RELATIVE"))
        self.add(f"{stem}PA", "double", [0.0], count=self.mpts)
        self.add(f"{stem}RA", "double", [0.0], count=self.mpts, read_only=True)
        self.add(f"{stem}CV", "double", 0.0, read_only=True)

    # --- the scan range ----------------------------------------------------------------------

    def _npts(self) -> int:
        return max(0, min(int(self.get("NPTS")), self.mpts))

    def _npts_changed(self) -> None:
        for i in range(1, NUM_POSITIONERS + 1):
            self._ends_changed(i)

    def _ends_changed(self, i: int) -> None:
        start, end, npts = self.get(f"P{i}SP"), self.get(f"P{i}EP"), self._npts()
        if npts > 1:
            self.set(f"P{i}SI", (end - start) / (npts - 1))
        self.set(f"P{i}CP", (start + end) / 2)
        self.set(f"P{i}WD", end - start)

    def _step_changed(self, i: int) -> None:
        start, end, step = self.get(f"P{i}SP"), self.get(f"P{i}EP"), self.get(f"P{i}SI")
        if step == 0:
            return
        npts = int(math.floor((end - start) / step + 1e-9)) + 1
        if npts >= 1:
            self.set("NPTS", min(npts, self.mpts))
        self.set(f"P{i}EP", start + step * (self._npts() - 1))
        self.set(f"P{i}CP", (start + self.get(f"P{i}EP")) / 2)
        self.set(f"P{i}WD", self.get(f"P{i}EP") - start)

    def _center_changed(self, i: int) -> None:
        center, width = self.get(f"P{i}CP"), self.get(f"P{i}WD")
        self.set(f"P{i}SP", center - width / 2)
        self.set(f"P{i}EP", center + width / 2)
        npts = self._npts()
        if npts > 1:
            self.set(f"P{i}SI", width / (npts - 1))

    def _check_link(self, stem: str) -> None:
        name = self.get(f"{stem}PV").strip()
        self.set(f"{stem}NV", PV_OK if not name or self.local_pv(name) else PV_MISSING)

    # --- running -------------------------------------------------------------------------

    def _named(self, stems: list[str]) -> list[tuple[str, PV | None]]:
        """(stem, PV or None if not found) of the links that name a PV."""
        return [(stem, self.local_pv(self.get(f"{stem}PV"))) for stem in stems
                if self.get(f"{stem}PV").strip()]

    def _active(self, stems: list[str]) -> list[tuple[str, PV]]:
        """(stem, PV) of the links that name a PV found on this server."""
        return [(stem, pv) for stem, pv in self._named(stems) if pv is not None]

    def _put_EXSC(self, pv: PV, value: Any, done: Done) -> None:
        if not value:
            if self._running:
                self._end("SCAN aborted")
            done()
            return
        self._pending.append(done)
        if not self._running:
            self._start()

    def _start(self) -> None:
        stems = [f"P{i}" for i in range(1, NUM_POSITIONERS + 1)] + \
                [f"T{i}" for i in range(1, NUM_TRIGGERS + 1)] + \
                [f"D{i:02d}" for i in range(1, NUM_DETECTORS + 1)]
        for stem in stems:
            self._check_link(stem)
        missing = [stem for stem, link in self._named(stems) if link is None]
        self._running = True
        self.set("EXSC", 1)
        self.set("BUSY", 1)
        self.set("DATA", 0)
        self.set("CPT", 0)
        if missing:
            self._end("SCAN aborted: PV(s) not connected")
            return
        npts = self._npts()
        self._prior = {i: _scalar(pv.value) for i, (stem, pv) in enumerate(
            self._active([f"P{i}" for i in range(1, NUM_POSITIONERS + 1)]))}
        self._positions = [self._points(int(stem[1:]), npts, self._prior[n])
                           for n, (stem, pv) in enumerate(self._positioners())]
        self._data = {}
        self.set("SMSG", "Scanning")
        self.later(0, lambda: self._point(0))

    def _positioners(self) -> list[tuple[str, PV]]:
        return self._active([f"P{i}" for i in range(1, NUM_POSITIONERS + 1)])

    def _points(self, i: int, npts: int, prior: float) -> list[float]:
        if self.get(f"P{i}SM") == LINEAR:
            start, step = self.get(f"P{i}SP"), self.get(f"P{i}SI")
            points = [start + step * n for n in range(npts)]
        else:
            table = list(self.fields[f"P{i}PA"].values)
            points = [float(table[n]) if n < len(table) else 0.0 for n in range(npts)]
        if self.get(f"P{i}AR"):
            points = [prior + point for point in points]
        return points

    def _all_then(self, puts: list[tuple[PV, float]], then: Callable[[], None]) -> None:
        """Put every (pv, value) with completion; ``then`` once all have completed."""
        remaining = [len(puts)]

        def one_done(*_status: Any) -> None:
            remaining[0] -= 1
            if remaining[0] == 0:
                self.later(0, then)

        if not puts:
            self.later(0, then)
        for pv, value in puts:
            try:
                pv.put(pv.from_client([float(value)], ChannelType.DOUBLE), one_done)
            except ValueError as exc:  # refused (read-only, bad value): on to the next
                logger.warning("%s: put to %s failed: %s", self.name, pv.name, exc)
                one_done()

    def _point(self, n: int) -> None:
        if not self._running:
            return
        if n >= self._npts():
            self._after_scan()
            return
        if self.get("PAUS"):
            self.later(0.05, lambda: self._point(n))
            return
        moves = [(pv, points[n]) for (stem, pv), points
                 in zip(self._positioners(), self._positions)]
        self._all_then(moves, lambda: self.later(self.get("PDLY"),
                                                 lambda: self._trigger(n)))

    def _trigger(self, n: int) -> None:
        if not self._running:
            return
        triggers = [(pv, self.get(f"{stem}CD")) for stem, pv
                    in self._active([f"T{i}" for i in range(1, NUM_TRIGGERS + 1)])]
        self._all_then(triggers, lambda: self.later(self.get("DDLY"),
                                                    lambda: self._read(n)))

    def _read(self, n: int) -> None:
        if not self._running:
            return
        for stem, pv in self._positioners():
            readback = self.local_pv(self.get(f"R{stem[1:]}PV")) or pv
            value = _scalar(readback.value)
            self._data.setdefault(f"{stem}RA", []).append(value)
            self.set(f"{stem}CV", value)
        for stem, pv in self._active([f"D{i:02d}" for i in range(1, NUM_DETECTORS + 1)]):
            value = _scalar(pv.value)
            self._data.setdefault(f"{stem}DA", []).append(value)
            self.set(f"{stem}CV", value)
        self.set("CPT", n + 1)
        self._point(n + 1)

    def _after_scan(self) -> None:
        mode = self.get("PASM")
        if mode in (START_POS, PRIOR_POS) and self._positions:
            moves = []
            for n, ((stem, pv), points) in enumerate(zip(self._positioners(),
                                                         self._positions)):
                target = points[0] if mode == START_POS and points else self._prior[n]
                moves.append((pv, target))
            self._all_then(moves, lambda: self._end("SCAN Complete"))
        else:
            self._end("SCAN Complete")

    def _end(self, message: str) -> None:
        """The scan is over (done or aborted): arrays, flags, then the completions."""
        self._running = False
        for field, values in self._data.items():
            self.set(field, values)
        self.set("SMSG", message)
        self.set("DATA", 1)
        self.set("BUSY", 0)
        self.set("EXSC", 0)
        pending, self._pending = self._pending, []
        for done in pending:
            done()


def _calling(recompute: Callable[[int], None], i: int) -> Callable[[Any], None]:
    """An on_change that recomputes positioner ``i``'s range."""
    def changed(value: Any) -> None:
        recompute(i)
    return changed


def _scalar(value: Any) -> float:
    """A PV's value as one number (the first element of an array)."""
    if isinstance(value, (list, tuple)) or hasattr(value, "__len__") and \
            not isinstance(value, str):
        value = value[0] if len(value) else 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
