"""pyepics' ``epics.devices``: Devices for common EPICS records and detectors.

Simple records: ai, ao, bi, bo, Transform. synApps: Scaler, Scan (sscan), MCA (with ROI,
DXP, MultiXMAP), Struck (SIS3820), SRS570. areaDetector: AD_Camera, AD_FilePlugin,
AD_ImagePlugin, AD_OverlayPlugin, AD_PerkinElmer; ``ad_mca`` and ``xspress3`` are
imported on their own, as in pyepics.
"""
from .ai import ai
from .ao import ao
from .bi import bi
from .bo import bo
from .scaler import Scaler
from .struck import Struck
from .srs570 import SRS570
from .mca import DXP, MCA, MultiXMAP, ROI
from .scan import Scan
from .transform import Transform
from .ad_base import AD_Camera
from .ad_fileplugin import AD_FilePlugin
from .ad_image import AD_ImagePlugin
from .ad_overlay import AD_OverlayPlugin
from .ad_perkinelmer import AD_PerkinElmer

Mca = MCA
