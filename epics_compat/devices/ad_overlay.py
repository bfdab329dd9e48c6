"""pyepics' ``epics.devices.ad_overlay``: one overlay of the areaDetector overlay plugin."""
from ..device import Device  # noqa: F401 -- a name of pyepics' module too
from ._areadetector import ADFields as _ADFields


class AD_OverlayPlugin(_ADFields):
    """An overlay (``PREFIX:Over1:1:``): use, position, size, shape, draw mode, color."""

    attrs = ('Name', 'Name_RBV', 'Use', 'Use_RBV', 'PositionX', 'PositionX_RBV',
             'PositionY', 'PositionY_RBV', 'PositionXLink', 'PositionYLink', 'SizeXLink',
             'SizeYLink', 'SizeX', 'SizeX_RBV', 'SizeY', 'SizeY_RBV', 'Shape', 'Shape_RBV',
             'DrawMode', 'DrawMode_RBV', 'Red', 'Red_RBV', 'Green', 'Green_RBV', 'Blue',
             'Blue_RBV')
