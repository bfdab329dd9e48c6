"""pyepics' ``epics.devices.ad_base``: an areaDetector camera driver (``PREFIX:cam1:``)."""
from ..device import Device  # noqa: F401 -- a name of pyepics' module too
from ._areadetector import ADFields as _ADFields


class AD_Camera(_ADFields):
    """The common fields of an areaDetector driver: Acquire, AcquireTime, ImageMode,
    NumImages, sizes, binning, trigger mode, counters and their readbacks."""

    attrs = ("Acquire", "AcquirePeriod", "AcquirePeriod_RBV", "AcquireTime",
             "AcquireTime_RBV", "ArrayCallbacks", "ArrayCallbacks_RBV", "ArrayCounter",
             "ArrayCounter_RBV", "ArrayRate_RBV", "ArraySizeX_RBV", "ArraySizeY_RBV",
             "ArraySize_RBV", "BinX", "BinX_RBV", "BinY", "BinY_RBV", "ColorMode",
             "ColorMode_RBV", "DataType", "DataType_RBV", "DetectorState_RBV", "Gain",
             "Gain_RBV", "ImageMode", "ImageMode_RBV", "MaxSizeX_RBV", "MaxSizeY_RBV",
             "MinX", "MinX_RBV", "MinY", "MinY_RBV", "NumImages", "NumImagesCounter_RBV",
             "NumImages_RBV", "SizeX", "SizeX_RBV", "SizeY", "SizeY_RBV",
             "TimeRemaining_RBV", "TriggerMode", "TriggerMode_RBV", "TriggerSoftware")
