"""``XMAP``: a simulated XIA xMAP system (dxp module), as pyepics' ``MultiXMAP`` uses it.

Served under ``PREFIX`` (e.g. ``XX:xmap:``): PresetReal, Dwell, Acquiring, EraseStart,
StopAll, PresetMode, PixelsPerBuffer_RBV, NextPixel, PixelsPerRun, Apply, AutoApply,
CollectMode, SyncCount, BufferSize_RBV; per channel i the DXP parameters ``dxpi:...``
(with CurrentPixel) and an ``Mca`` record ``mcai``; and a file plugin ``netCDF1:``.

EraseStart=1 erases the spectra and acquires for PresetReal seconds (Acquiring is 1
meanwhile; the put completes at the end); StopAll=1 stops. NextPixel=1 counts every
channel's CurrentPixel up (reset by EraseStart). BufferSize_RBV is 1024 in MCA spectra
mode (CollectMode 0) and 1048576 in the mapping modes.
"""
from __future__ import annotations

from typing import Any

from ..pv import PV, Done
from ._base import SimRecord
from .areadetector import ADFile
from .mca import Mca

DXP_FIELDS = ("PreampGain", "MaxEnergy", "ADCPercentRule", "BaselineCutPercent",
              "BaselineThreshold", "BaselineFilterLength", "BaselineCutEnable",
              "InputCountRate", "OutputCountRate", "GapTime", "PeakingTime",
              "EnergyThreshold", "MaxWidth", "PresetMode", "TriggerPeakingTime",
              "TriggerGapTime", "TriggerThreshold")
COLLECT_MODES = ("MCA spectra", "MCA mapping", "SCA mapping", "List mapping")


class XMAP(SimRecord):
    """An xMAP at ``prefix`` with ``nmca`` channels of ``nmax`` bins."""

    record_type = "dxp"

    def __init__(self, prefix: str, nmca: int = 1, nmax: int = 512):
        super().__init__(prefix, delim="")
        self.mcas = [Mca(f"{prefix}mca{i}", nmax=nmax) for i in range(1, nmca + 1)]
        self.dxps = [SimRecord(f"{prefix}dxp{i}:", delim="") for i in range(1, nmca + 1)]
        for number, dxp in enumerate(self.dxps, start=1):
            for index, field in enumerate(DXP_FIELDS):
                if field == "PresetMode":
                    dxp.add(field, "enum", 0, enum_strs=("No preset", "Real time",
                                                         "Live time", "Events", "Triggers"))
                else:
                    dxp.add(field, "double", float(index + number), precision=3)
            dxp.add("CurrentPixel", "long", 0, read_only=True)
        self.file = ADFile(f"{prefix}netCDF1:", template="%s%s_%4.4d.nc")
        self._pending: list[Done] = []
        self.add("PresetReal", "double", 0.0, precision=3, units="sec")
        self.add("Dwell", "double", 0.0, precision=3, units="sec")
        self.add("Acquiring", "enum", 0, enum_strs=("Done", "Acquiring"), read_only=True)
        self.add("EraseStart", "short", 0, on_put=self._put_EraseStart)
        self.add("StopAll", "short", 0, on_put=self._put_StopAll)
        self.add("PresetMode", "enum", 0, enum_strs=("No preset", "Real time", "Live time",
                                                     "Events", "Triggers"))
        self.add("PixelsPerBuffer_RBV", "long", 124, read_only=True)
        self.add("NextPixel", "short", 0, on_put=self._put_NextPixel)
        self.add("PixelsPerRun", "long", 1)
        self.add("Apply", "short", 0)
        self.add("AutoApply", "enum", 1, enum_strs=("No", "Yes"))
        self.add("CollectMode", "enum", 0, enum_strs=COLLECT_MODES,
                 on_change=lambda mode: self.set("BufferSize_RBV",
                                                 1024 if mode == 0 else 1 << 20))
        self.add("SyncCount", "long", 1)
        self.add("BufferSize_RBV", "long", 1024, read_only=True)

    @property
    def parts(self) -> list[SimRecord]:
        return [*self.mcas, *self.dxps, self.file]

    def _put_EraseStart(self, pv: PV, value: Any, done: Done) -> None:
        if not value:
            done()
            return
        self._pending.append(done)
        for dxp in self.dxps:
            dxp.set("CurrentPixel", 0)
        if self.get("Acquiring"):
            return
        self.set("Acquiring", 1)
        for mca in self.mcas:
            mca.erase()
            mca.set("PRTM", self.get("PresetReal"))
            mca.start()
        self._watch()

    def _watch(self) -> None:
        if any(mca.acquiring for mca in self.mcas):
            self.later(0.05, self._watch)
        else:
            self._finish()

    def _finish(self) -> None:
        self.set("Acquiring", 0)
        pending, self._pending = self._pending, []
        for done in pending:
            done()

    def _put_StopAll(self, pv: PV, value: Any, done: Done) -> None:
        if value:
            for mca in self.mcas:
                mca.stop()
        done()

    def _put_NextPixel(self, pv: PV, value: Any, done: Done) -> None:
        if value:
            for dxp in self.dxps:
                dxp.set("CurrentPixel", dxp.get("CurrentPixel") + 1)
        done()
