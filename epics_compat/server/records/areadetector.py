"""Simulated areaDetector pieces: a camera driver, and image, file and overlay plugins.

``ADCam(prefix)`` serves the driver fields pyepics' ``AD_Camera`` and ``AD_PerkinElmer``
use (``prefix`` is e.g. ``XX:cam1:``); each setting ``X`` has its readback ``X_RBV``.
Acquire=1 takes images, one per max(AcquireTime, AcquirePeriod) seconds: one in Single
image mode, NumImages in Multiple, until Acquire=0 in Continuous. Each image counts
ArrayCounter and NumImagesCounter up and goes to the plugins attached to the camera;
DetectorState_RBV is Acquire meanwhile, and at the end Acquire drops to 0 and the put
that started it completes. PEAcquireOffset=1 (Perkin-Elmer) stays 1 for
PENumOffsetFrames * AcquireTime seconds.

``ADImage(prefix, cam)`` holds the last image in ArrayData (a pattern: pixel (x, y) of
image n is (x + y + n) % 256), with UniqueId_RBV and its dimensions.

``ADFile(prefix, cam)`` names files as the file plugins do (FileTemplate % (FilePath,
FileName, FileNumber)) but writes nothing to disk: WriteFile=1 saves the last image
(FullFileName_RBV, FileNumber + 1 with AutoIncrement); with AutoSave each image is saved
in Single mode; Capture=1 in Capture or Stream mode collects NumCapture images, then
saves them as one file and drops Capture (the put completes then).

``ADOverlay(prefix)`` serves the fields of one overlay; settings show in readbacks.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from ..pv import PV, Done
from ._base import SimRecord

IMAGE_MODES = ("Single", "Multiple", "Continuous")
TRIGGER_MODES = ("Internal", "External", "Free Run", "Soft Trigger")
DETECTOR_STATES = ("Idle", "Acquire", "Readout", "Correct", "Saving", "Aborting", "Error",
                   "Waiting", "Initializing", "Disconnected", "Aborted")
DATA_TYPES = ("Int8", "UInt8", "Int16", "UInt16", "Int32", "UInt32", "Float32", "Float64")
COLOR_MODES = ("Mono", "Bayer", "RGB1", "RGB2", "RGB3", "YUV444", "YUV422", "YUV421")
OFF_ON = ("Disable", "Enable")
SINGLE, MULTIPLE, CONTINUOUS = range(3)
IDLE, ACQUIRE = 0, 1


class ADCam(SimRecord):
    """A camera driver at ``prefix`` with a ``size`` (x, y) sensor."""

    record_type = "areaDetector"

    def __init__(self, prefix: str, size: tuple[int, int] = (64, 48), *,
                 model: str = "Simulated detector"):
        super().__init__(prefix, delim="")
        self.plugins: list[Callable[[int, int, int], None]] = []
        self._pending: list[Done] = []
        self._timer = None
        self._offset_timer = None
        self._left = 0
        self._started = 0.0
        self._image_size = size
        self.add("Acquire", "enum", 0, enum_strs=("Done", "Acquire"), on_put=self._put_Acquire)
        self.add("Acquire_RBV", "enum", 0, enum_strs=("Done", "Acquiring"), read_only=True)
        self.add_setting("AcquireTime", "double", 0.1, precision=3, units="s")
        self.add_setting("AcquirePeriod", "double", 0.0, precision=3, units="s")
        self.add_setting("ArrayCallbacks", "enum", 1, enum_strs=OFF_ON)
        self.add_setting("ArrayCounter", "long", 0)
        self.add("ArrayRate_RBV", "double", 0.0, read_only=True)
        self.add_setting("BinX", "long", 1, on_change=lambda _: self._sizes())
        self.add_setting("BinY", "long", 1, on_change=lambda _: self._sizes())
        self.add_setting("MinX", "long", 0)
        self.add_setting("MinY", "long", 0)
        self.add_setting("SizeX", "long", size[0], on_change=lambda _: self._sizes())
        self.add_setting("SizeY", "long", size[1], on_change=lambda _: self._sizes())
        self.add("MaxSizeX_RBV", "long", size[0], read_only=True)
        self.add("MaxSizeY_RBV", "long", size[1], read_only=True)
        for field in ("ArraySizeX_RBV", "ArraySizeY_RBV", "ArraySize_RBV"):
            self.add(field, "long", 0, read_only=True)
        self.add_setting("ColorMode", "enum", 0, enum_strs=COLOR_MODES)
        self.add_setting("DataType", "enum", 1, enum_strs=DATA_TYPES)
        self.add("DetectorState_RBV", "enum", IDLE, enum_strs=DETECTOR_STATES, read_only=True)
        self.add_setting("Gain", "double", 1.0)
        self.add_setting("ImageMode", "enum", SINGLE, enum_strs=IMAGE_MODES)
        self.add_setting("NumImages", "long", 1)
        self.add("NumImagesCounter_RBV", "long", 0, read_only=True)
        self.add("TimeRemaining_RBV", "double", 0.0, precision=3, read_only=True)
        self.add_setting("TriggerMode", "enum", 0, enum_strs=TRIGGER_MODES)
        self.add("TriggerSoftware", "short", 0)
        self.add("Model_RBV", "string", model, read_only=True)
        self.add("Manufacturer_RBV", "string", "epics_compat", read_only=True)
        self.add("StatusMessage_RBV", "string", "Idle", read_only=True)
        # Perkin-Elmer: offset frames and the shutter.
        self.add("PEAcquireOffset", "enum", 0, enum_strs=("Done", "Acquire"),
                 on_put=self._put_offset)
        self.add("PENumOffsetFrames", "long", 2)
        self.add("ShutterControl", "enum", 0, enum_strs=("Close", "Open"))
        self.add("ShutterMode", "enum", 0, enum_strs=("None", "EPICS PV", "Detector output"))
        self._sizes()

    def _sizes(self) -> None:
        x = max(1, self.get("SizeX") // max(1, self.get("BinX")))
        y = max(1, self.get("SizeY") // max(1, self.get("BinY")))
        self._image_size = (x, y)
        self.set("ArraySizeX_RBV", x)
        self.set("ArraySizeY_RBV", y)
        self.set("ArraySize_RBV", x * y)

    @property
    def acquiring(self) -> bool:
        return bool(self.get("Acquire"))

    def _put_Acquire(self, pv: PV, value: Any, done: Done) -> None:
        if not value:
            self.stop()
            done()
            return
        self._pending.append(done)
        if self.acquiring:
            return
        mode = self.get("ImageMode")
        self._left = 1 if mode == SINGLE else (self.get("NumImages") if mode == MULTIPLE
                                               else -1)
        self.set("Acquire", 1)
        self.set("Acquire_RBV", 1)
        self.set("DetectorState_RBV", ACQUIRE)
        self.set("StatusMessage_RBV", "Acquiring")
        self.set("NumImagesCounter_RBV", 0)
        self._started = time.monotonic()
        self._schedule()

    def _period(self) -> float:
        return max(self.get("AcquireTime"), self.get("AcquirePeriod"), 1e-3)

    def _schedule(self) -> None:
        if self._left > 0:
            self.set("TimeRemaining_RBV", round(self._left * self._period(), 6))
        self._timer = self.later(self._period(), self._image)

    def _image(self) -> None:
        """One image is taken: counters, then the plugins."""
        self._timer = None
        if not self.acquiring:
            return
        number = self.get("ArrayCounter") + 1
        self.set("ArrayCounter", number)
        self.set("ArrayCounter_RBV", number)
        self.set("NumImagesCounter_RBV", self.get("NumImagesCounter_RBV") + 1)
        elapsed = time.monotonic() - self._started
        self.set("ArrayRate_RBV", round(self.get("NumImagesCounter_RBV") / elapsed, 3))
        if self.get("ArrayCallbacks"):
            width, height = self._image_size
            for plugin in list(self.plugins):
                plugin(number, width, height)
        if self._left > 0:
            self._left -= 1
        if self._left == 0:
            self.stop()
        else:
            self._schedule()

    def stop(self) -> None:
        """Acquisition ends: Acquire back to 0, then the completions."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.acquiring:
            self.set("TimeRemaining_RBV", 0.0)
            self.set("DetectorState_RBV", IDLE)
            self.set("StatusMessage_RBV", "Idle")
            self.set("Acquire_RBV", 0)
            self.set("Acquire", 0)
        pending, self._pending = self._pending, []
        for done in pending:
            done()

    def _put_offset(self, pv: PV, value: Any, done: Done) -> None:
        pv.write(1 if value else 0)
        if value:
            seconds = self.get("PENumOffsetFrames") * self.get("AcquireTime")
            self._offset_timer = self.later(seconds, lambda: pv.write(0))
        done()

    def detach(self) -> None:
        self._timer = self._offset_timer = None
        super().detach()


class _Plugin(SimRecord):
    """A plugin fed by a camera (``cam.plugins``) when EnableCallbacks is on."""

    record_type = "NDPlugin"

    def __init__(self, prefix: str, cam: ADCam | None):
        super().__init__(prefix, delim="")
        self.add_setting("EnableCallbacks", "enum", 1, enum_strs=OFF_ON)
        self.add_setting("NDArrayPort", "string", "CAM")
        if cam is not None:
            cam.plugins.append(self._receive)

    def _receive(self, number: int, width: int, height: int) -> None:
        if self.get("EnableCallbacks"):
            self.image(number, width, height)

    def image(self, number: int, width: int, height: int) -> None:
        raise NotImplementedError


class ADImage(_Plugin):
    """An image plugin (``XX:image1:``) holding the camera's last image."""

    def __init__(self, prefix: str, cam: ADCam | None = None, max_pixels: int = 64 * 48):
        super().__init__(prefix, cam)
        self.add("ArrayData", "char", [0], count=max_pixels, read_only=True)
        self.add_setting("UniqueId", "long", 0)
        self.add_setting("NDimensions", "long", 2)
        for axis in range(3):
            self.add_setting(f"ArraySize{axis}", "long", 0)
        self.add_setting("ColorMode", "enum", 0, enum_strs=COLOR_MODES)

    def image(self, number: int, width: int, height: int) -> None:
        pixels = [(x + y + number) % 256 for y in range(height) for x in range(width)]
        self.set("ArrayData", pixels[:self.fields["ArrayData"].count])
        for field, value in (("UniqueId", number), ("ArraySize0", width),
                             ("ArraySize1", height), ("ArraySize2", 0)):
            self.set(field, value)
            self.set(f"{field}_RBV", value)


FILE_WRITE_MODES = ("Single", "Capture", "Stream")
SINGLE_FILE, CAPTURE, STREAM = range(3)


class ADFile(_Plugin):
    """A file saving plugin (``XX:TIFF1:``, ``XX:HDF1:``...) that names, counts and
    reports files without writing any."""

    def __init__(self, prefix: str, cam: ADCam | None = None, *,
                 template: str = "%s%s_%3.3d.tif"):
        super().__init__(prefix, cam)
        self._pending: list[Done] = []
        self._have_image = False
        self.add_setting("AutoIncrement", "enum", 1, enum_strs=("No", "Yes"))
        self.add_setting("AutoSave", "enum", 0, enum_strs=("No", "Yes"))
        self.add("Capture", "enum", 0, enum_strs=("Done", "Capture"), on_put=self._put_Capture)
        self.add("Capture_RBV", "enum", 0, enum_strs=("Done", "Capturing"), read_only=True)
        self.add_setting("FileName", "char", "image", count=256)
        self.add_setting("FileNumber", "long", 1)
        self.add_setting("FilePath", "char", "/tmp/", count=256)
        self.add("FilePathExists_RBV", "enum", 1, enum_strs=("No", "Yes"), read_only=True)
        self.add_setting("FileTemplate", "char", template, count=256)
        self.add_setting("FileWriteMode", "enum", SINGLE_FILE, enum_strs=FILE_WRITE_MODES)
        self.add("FullFileName_RBV", "char", "", count=256, read_only=True)
        self.add_setting("NumCapture", "long", 1)
        self.add("NumCaptured_RBV", "long", 0, read_only=True)
        self.add_setting("ReadFile", "enum", 0, enum_strs=("Done", "Read"))
        self.add("WriteFile", "enum", 0, enum_strs=("Done", "Write"), on_put=self._put_WriteFile)
        self.add("WriteFile_RBV", "enum", 0, enum_strs=("Done", "Writing"), read_only=True)
        self.add("WriteMessage", "char", "", count=256, read_only=True)
        self.add("WriteStatus", "enum", 0, enum_strs=("Write OK", "Write error"),
                 read_only=True)
        self.add("ArraySize0_RBV", "long", 0, read_only=True)
        self.add("ArrayCounter_RBV", "long", 0, read_only=True)

    def _text(self, field: str) -> str:
        return bytes(self.fields[field].values).split(b"\0")[0].decode("utf-8", "replace")

    def save(self) -> None:
        """'Write' a file: its name becomes FullFileName_RBV; the number counts on."""
        self.set("WriteFile_RBV", 1)
        try:
            name = self._text("FileTemplate") % (self._text("FilePath"),
                                                 self._text("FileName"),
                                                 self.get("FileNumber"))
        except (TypeError, ValueError) as exc:
            self.set("WriteMessage", f"bad template: {exc}"[:255])
            self.set("WriteStatus", 1)
        else:
            self.set("FullFileName_RBV", name)
            self.set("WriteMessage", "")
            self.set("WriteStatus", 0)
            if self.get("AutoIncrement"):
                number = self.get("FileNumber") + 1
                self.set("FileNumber", number)
                self.set("FileNumber_RBV", number)
        self.set("WriteFile_RBV", 0)

    def image(self, number: int, width: int, height: int) -> None:
        self._have_image = True
        self.set("ArraySize0_RBV", width)
        self.set("ArrayCounter_RBV", self.get("ArrayCounter_RBV") + 1)
        mode = self.get("FileWriteMode")
        if mode == SINGLE_FILE:
            if self.get("AutoSave"):
                self.save()
        elif self.get("Capture"):
            captured = self.get("NumCaptured_RBV") + 1
            self.set("NumCaptured_RBV", captured)
            if captured >= self.get("NumCapture"):
                self.save()
                self._end_capture()

    def _put_Capture(self, pv: PV, value: Any, done: Done) -> None:
        if not value:
            if self.get("Capture") and self.get("NumCaptured_RBV"):
                self.save()  # what was captured so far
            self._end_capture()
            done()
            return
        if self.get("FileWriteMode") == SINGLE_FILE:
            done()
            return
        self._pending.append(done)
        if not self.get("Capture"):
            self.set("NumCaptured_RBV", 0)
            self.set("Capture", 1)
            self.set("Capture_RBV", 1)

    def _end_capture(self) -> None:
        self.set("Capture", 0)
        self.set("Capture_RBV", 0)
        pending, self._pending = self._pending, []
        for done in pending:
            done()

    def _put_WriteFile(self, pv: PV, value: Any, done: Done) -> None:
        if value and self._have_image:
            self.save()
        elif value:
            self.set("WriteMessage", "no image to write")
            self.set("WriteStatus", 1)
        done()


class ADOverlay(SimRecord):
    """One overlay of an overlay plugin (``XX:Over1:1:``)."""

    record_type = "NDPluginOverlay"

    def __init__(self, prefix: str):
        super().__init__(prefix, delim="")
        self.add_setting("Name", "string", "")
        self.add_setting("Use", "enum", 0, enum_strs=("No", "Yes"))
        for field in ("PositionX", "PositionY", "SizeX", "SizeY"):
            self.add_setting(field, "long", 0)
        for field in ("PositionXLink", "PositionYLink", "SizeXLink", "SizeYLink"):
            self.add(field, "string", "")
        self.add_setting("Shape", "enum", 0, enum_strs=("Cross", "Rectangle", "Ellipse",
                                                        "Text"))
        self.add_setting("DrawMode", "enum", 0, enum_strs=("Set", "XOR"))
        for field in ("Red", "Green", "Blue"):
            self.add_setting(field, "long", 0)
