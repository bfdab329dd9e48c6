"""Simulated records outside EPICS base, for tests of pyepics' ``epics.devices``:
scaler, sscan, mca, Struck SIS3820, SRS570, transform and areaDetector pieces.

Each is a set of server PVs with the behaviour the device classes rely on; add one to a
``Server`` like a ``Motor``. Links (sscan positioners, detectors, triggers) resolve to
PVs of the same server.
"""
from .areadetector import ADCam, ADFile, ADImage, ADOverlay
from .mca import Mca
from .scaler import Scaler
from .srs570 import SRS570
from .sscan import Sscan
from .struck import Struck
from .transform import Transform
from .xmap import XMAP
from .xspress3 import Xspress3, Xspress310

__all__ = ["ADCam", "ADFile", "ADImage", "ADOverlay", "Mca", "Scaler", "SRS570", "Sscan", "Struck", "Transform",
           "XMAP", "Xspress3", "Xspress310"]
