"""pyepics' ``epics.devices.ad_image``: the areaDetector image plugin (``PREFIX:image1:``)."""
from ..device import Device  # noqa: F401 -- a name of pyepics' module too
from ._areadetector import ADFields as _ADFields


class AD_ImagePlugin(_ADFields):
    """The image plugin: ArrayData (the pixels), its dimensions and color mode."""

    attrs = ('ArrayData', 'UniqueId', 'UniqueId_RBV', 'NDimensions', 'NDimensions_RBV',
             'ArraySize0', 'ArraySize0_RBV', 'ArraySize1', 'ArraySize1_RBV', 'ArraySize2',
             'ArraySize2_RBV', 'ColorMode', 'ColorMode_RBV')
