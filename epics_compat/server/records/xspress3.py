"""``Xspress3``: a simulated Quantum Detectors Xspress3 (areaDetector 2 style).

Served under ``PREFIX`` (e.g. ``XX:xsp3:``): the driver ``det1:`` (an ``ADCam`` in
Multiple image mode, with ERASE and UPDATE), for each channel i the spectrum
``MCAi:ArrayData``, the 48 ROIs of its ROIStat plugin ``MCAiROI:r:`` (Use, Name, BgdWidth,
MinX and SizeX with readbacks, Total_RBV, Net_RBV), the time series controls
``MCAiROI:TSNumPoints/TSControl`` and ``CiSCA:TSNumPoints/TSControl``, the SCA values
``CiSCAj:Value_RBV``, and the HDF5 file plugin ``HDF1:`` (an ``ADFile``).

Each frame (AcquireTime long) sets every channel's spectrum to ``floor(rate * AcquireTime)``
for a fixed spectrum (two peaks on a background, the same as ``Mca``'s) and updates
the ROI sums: Total_RBV sums channels MinX .. MinX + SizeX - 1; Net_RBV subtracts the
mean of BgdWidth channels each side, times SizeX. ERASE=1 zeroes the spectra.
"""
from __future__ import annotations

from typing import Any

from ..pv import PV
from ._base import SimRecord
from .areadetector import MULTIPLE, ADCam, ADFile
from .mca import Mca, default_rates

NUM_ROIS = 48
NUM_SCAS = 8


class Xspress3Channel(SimRecord):
    """Channel ``number`` of an Xspress3 at ``prefix``: spectrum, ROIs, SCAs."""

    record_type = "xspress3"

    def __init__(self, prefix: str, number: int, nchan: int = 4096):
        super().__init__(prefix, delim="")
        self.rates = default_rates(nchan)
        stem = f"MCA{number}ROI:"
        self.data = self.add(f"MCA{number}:ArrayData", "long", [0] * nchan, count=nchan,
                             read_only=True)
        self._rois = [f"{stem}{roi}:" for roi in range(1, NUM_ROIS + 1)]
        for roi in self._rois:
            self.add(roi + "Use", "enum", 1, enum_strs=("No", "Yes"))
            self.add(roi + "Name", "string", "", on_change=lambda _: self.update_sums())
            self.add(roi + "BgdWidth", "long", 1, on_change=lambda _: self.update_sums())
            for field in ("MinX", "SizeX"):
                self.add_setting(roi + field, "long", 0, on_change=lambda _: self.update_sums())
            self.add(roi + "Total_RBV", "double", 0.0, read_only=True)
            self.add(roi + "Net_RBV", "double", 0.0, read_only=True)
        for stem_ in (stem, f"C{number}SCA:"):
            self.add(stem_ + "TSNumPoints", "long", 1000)
            self.add(stem_ + "TSControl", "enum", 2,
                     enum_strs=("Erase/Start", "Start", "Stop", "Read"))
        for sca in range(1, NUM_SCAS + 1):
            self.add(f"C{number}SCA{sca}:Value_RBV", "double", 0.0, read_only=True)

    def frame(self, seconds: float) -> None:
        self.data.write([int(rate * seconds) for rate in self.rates])
        self.update_sums()

    def erase(self) -> None:
        self.data.write([0] * len(self.rates))
        self.update_sums()

    def update_sums(self) -> None:
        data = self.data.values
        for roi in self._rois:
            lo, size = self.get(roi + "MinX"), self.get(roi + "SizeX")
            if size <= 0 or lo < 0:
                total = net = 0.0
            else:
                total = float(sum(data[lo:lo + size]))
                width = max(1, self.get(roi + "BgdWidth"))
                sides = list(data[max(0, lo - width):lo]) + \
                    list(data[lo + size:lo + size + width])
                net = total - (sum(sides) / len(sides) if sides else 0.0) * size
            self.set(roi + "Total_RBV", total)
            self.set(roi + "Net_RBV", net)


class Xspress3(ADCam):
    """An Xspress3 of ``nmca`` channels of ``nchan`` bins at ``prefix``."""

    def __init__(self, prefix: str, nmca: int = 1, nchan: int = 4096):
        super().__init__(f"{prefix}det1:", size=(nchan, nmca),
                         model="Xspress3 (simulated)")
        self.set("ImageMode", MULTIPLE)
        self.set("ImageMode_RBV", MULTIPLE)
        self.add("ERASE", "short", 0, on_put=self._put_ERASE)
        self.add("UPDATE", "short", 0)
        self.channels = [Xspress3Channel(prefix, i, nchan) for i in range(1, nmca + 1)]
        self.file = ADFile(f"{prefix}HDF1:", self, template="%s%s_%4.4d.hdf5")
        self.plugins.insert(0, self._frame)

    @property
    def parts(self) -> list[SimRecord]:
        return [*self.channels, self.file]

    def _frame(self, number: int, width: int, height: int) -> None:
        for channel in self.channels:
            channel.frame(self.get("AcquireTime"))

    def _put_ERASE(self, pv: PV, value: Any, done) -> None:
        if value:
            for channel in self.channels:
                channel.erase()
        done()


class Xspress310(SimRecord):
    """An Xspress3 of the older (3.10) kind at ``prefix``: driver fields right under the
    prefix, spectra in ``Mca`` records ``mcai``, the saved ROI limits
    ``Ci_MCA_ROIr_LLM/HLM`` (r = 1..4) and an HDF5 plugin ``HDF5:``."""

    record_type = "xspress3"

    def __init__(self, prefix: str, nmca: int = 1, nmax: int = 512):
        super().__init__(prefix, delim="")
        self.mcas = [Mca(f"{prefix}mca{i}", nmax=nmax) for i in range(1, nmca + 1)]
        self.file = ADFile(f"{prefix}HDF5:", template="%s%s_%4.4d.hdf5")
        for field in ("NumImages", "ArrayCounter"):
            self.add_setting(field, "long", 0)
        self.add("Acquire", "enum", 0, enum_strs=("Done", "Acquire"),
                 on_change=lambda value: self.set("Acquire_RBV", value))
        self.add("Acquire_RBV", "enum", 0, enum_strs=("Done", "Acquiring"), read_only=True)
        self.add("ERASE", "short", 0)
        self.add("UPDATE", "short", 0)
        self.add("AcquireTime", "double", 1.0, precision=3)
        self.add("TriggerMode", "enum", 1, enum_strs=("Software", "Internal", "IDC",
                                                      "TTL Veto Only"))
        self.add("StatusMessage_RBV", "string", "Idle", read_only=True)
        self.add("DetectorState_RBV", "enum", 0, enum_strs=("Idle", "Acquire"),
                 read_only=True)
        for channel in range(1, nmca + 1):
            for roi in range(1, 5):
                for limit in ("LLM", "HLM"):
                    self.add(f"C{channel}_MCA_ROI{roi}_{limit}", "long", 0)

    @property
    def parts(self) -> list[SimRecord]:
        return [*self.mcas, self.file]
