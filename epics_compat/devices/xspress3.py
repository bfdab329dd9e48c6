"""pyepics' ``epics.devices.xspress3``: Quantum Detectors Xspress3 readout systems.

``Xspress3`` is the areaDetector 2 version (``PREFIX:det1:`` driver, one ADMCA per
channel with its ROIStat ROIs, an HDF5 file plugin); ``Xspress310`` the older one whose
spectra are MCA records (``PREFIX:mca1`` ..).
"""
import os
import time
from configparser import ConfigParser  # noqa: F401 -- a name of pyepics' module too

from .. import caget, caput
from ..ca import poll  # noqa: F401 -- a name of pyepics' module too
from ..device import Device
from ._filesaver import FileSaverCalls as _FileSaverCalls
from .ad_mca import ADMCA
from .mca import ROI  # noqa: F401 -- a name of pyepics' module too
from .mca import MCA, _restore_rois, _rois_from_file

MAX_ROIS = 32


class ADFileMixin(_FileSaverCalls):
    """File plugin calls for a Device with ``filesaver`` (the plugin's prefix, relative
    to the device's) and ``fileroot`` (setFilePath() names are relative to it)."""

    def filePut(self, attr, value, **kws):
        """Write field ``attr`` of the file plugin."""
        return self.put("%s%s" % (self.filesaver, attr), value, **kws)

    def fileGet(self, attr, **kws):
        """Read field ``attr`` of the file plugin."""
        return self.get("%s%s" % (self.filesaver, attr), **kws)

    def setFilePath(self, pathname):
        """Write files to ``pathname`` under ``fileroot``."""
        return self.filePut('FilePath', os.path.join(self.fileroot, pathname))


class Xspress3BaseMixin:
    """Trigger and acquisition calls shared by the Xspress3 versions."""

    def useExternalTrigger(self):
        self.TriggerMode = 3

    def useInternalTrigger(self):
        self.TriggerMode = 1

    def setTriggerMode(self, mode):
        self.TriggerMode = mode

    def start(self, capture=True):
        """Start acquiring, capturing to file unless ``capture`` is False."""
        time.sleep(.05)
        if capture:
            self.FileCaptureOn()
        self.Acquire = 1

    def stop(self):
        """Stop acquiring and capturing."""
        self.Acquire = 0
        self.FileCaptureOff()

    def get_rois(self):
        """The ROIs of each channel."""
        return [mca.get_rois() for mca in self.mcas]


def _calib_lines(nmca):
    """The [calibration] and [dxp] sections: the fixed 10 eV per channel."""
    return ['[calibration]',
            "OFFSET = %s " % ' '.join(["0.000 "] * nmca),
            "SLOPE  = %s " % ' '.join(["0.010 "] * nmca),
            "QUAD   = %s " % ' '.join(["0.000 "] * nmca),
            '[dxp]']


class Xspress3(Device, ADFileMixin, Xspress3BaseMixin):
    """An Xspress3 of ``nmca`` channels at ``prefix`` (a ':' is added if missing)."""

    det_attrs = ('NumImages', 'NumImages_RBV', 'Acquire', 'Acquire_RBV',
                 'ArrayCounter_RBV', 'ERASE', 'UPDATE', 'AcquireTime', 'TriggerMode',
                 'StatusMessage_RBV', 'DetectorState_RBV')
    _nonpvs = ('_prefix', '_pvs', '_delim', 'filesaver', 'fileroot', 'pathattrs',
               '_nonpvs', 'nmca', 'mcas')
    pathattrs = ('FilePath', 'FileTemplate', 'FileName', 'FileNumber', 'Capture',
                 'NumCapture')

    def __init__(self, prefix, nmca=4, filesaver='HDF1:',
                 fileroot='/home/xspress3/cars5/Data'):
        if not prefix.endswith(':'):
            prefix = "%s:" % prefix
        self.nmca = nmca
        self.filesaver = filesaver
        self.fileroot = fileroot
        self._prefix = prefix
        self.mcas = [ADMCA("%sdet1:" % prefix, data_pv="%sMCA%i:ArrayData" % (prefix, imca),
                           roi_prefix="%sMCA%iROI" % (prefix, imca))
                     for imca in range(1, nmca + 1)]
        Device.__init__(self, prefix, delim='',
                        attrs=['%s%s' % (filesaver, attr) for attr in self.pathattrs])
        for attr in self.det_attrs:
            self.add_pv("%sdet1:%s" % (prefix, attr), attr)
        for imca in range(1, nmca + 1):
            for isca in range(1, 9):
                attr = "C%iSCA%i" % (imca, isca)
                self.add_pv("%s%s:Value_RBV" % (prefix, attr), attr)
            for attr in ('TSNumPoints', 'TSControl'):
                self.add_pv("%sMCA%iROI:%s" % (prefix, imca, attr), "MCA%i%s" % (imca, attr))
                self.add_pv("%sC%iSCA:%s" % (prefix, imca, attr), "SCA%i%s" % (imca, attr))
        time.sleep(0.05)

    def TimeSeriesCaptureOn(self, npts=None):
        """Start the time series of the ROI and SCA plugins (of ``npts`` points)."""
        channels = range(1, len(self.mcas) + 1)
        if npts is not None:
            for imca in channels:
                self._pvs["MCA%iTSNumPoints" % imca].put(npts)
                self._pvs["SCA%iTSNumPoints" % imca].put(npts)
        time.sleep(0.025)
        for imca in channels:
            self._pvs["MCA%iTSControl" % imca].put(0)
            self._pvs["SCA%iTSControl" % imca].put(0)

    def TimeSeriesCaptureOff(self):
        """Stop the time series."""
        for imca in range(1, len(self.mcas) + 1):
            self._pvs["MCA%iTSControl" % imca].put(2)
            self._pvs["SCA%iTSControl" % imca].put(2)

    def roi_calib_info(self):
        """The first channel's ROIs (for every channel) and the calibration, as the
        lines of an ini-style file."""
        lines = ['[rois]']
        for iroi, roi in enumerate(self.mcas[0].get_rois()):
            name, lo, hi = roi.Name, roi.MinX, roi.MinX + roi.SizeX
            if len(name.strip()) > 0 and hi > 0:
                limits = ' '.join('%s %s' % (lo, hi) for _ in range(self.nmca))
                lines.append("ROI%2.2i = %s | %s" % (iroi, name, limits))
        return lines + _calib_lines(self.nmca)

    def restore_rois(self, roifile):
        """Set every channel's ROIs from a roi_calib_info() file."""
        roidata = _rois_from_file(roifile)
        for mca in self.mcas:
            mca.set_rois(roidata)


class Xspress310(Device, ADFileMixin, Xspress3BaseMixin):
    """An Xspress3 (3.10) of ``nmca`` channels at ``prefix``."""

    attrs = ('NumImages', 'NumImages_RBV', 'Acquire', 'Acquire_RBV', 'ArrayCounter_RBV',
             'ERASE', 'UPDATE', 'AcquireTime', 'TriggerMode', 'StatusMessage_RBV',
             'DetectorState_RBV')
    _nonpvs = ('_prefix', '_pvs', '_delim', 'filesaver', 'fileroot', 'pathattrs',
               '_nonpvs', '_save_rois', 'nmca', 'dxps', 'mcas')
    pathattrs = ('FilePath', 'FileTemplate', 'FileName', 'FileNumber', 'Capture',
                 'NumCapture')

    def __init__(self, prefix, nmca=4, filesaver='HDF5:',
                 fileroot='/home/xspress3/cars5/Data'):
        self.nmca = nmca
        self.filesaver = filesaver
        self.fileroot = fileroot
        self._prefix = prefix
        self._save_rois = []
        self.mcas = [MCA(prefix, mca=i + 1) for i in range(nmca)]
        Device.__init__(self, prefix, delim='', attrs=list(self.attrs) + [
            '%s%s' % (filesaver, attr) for attr in self.pathattrs])
        time.sleep(0.1)

    def select_rois_to_save(self, roilist):
        """Have the Xspress3 save the sums of these ROIs: names of ROIs of the first
        MCA record, or (lo, hi) channel pairs (at least 4; (50, 4050) fills up)."""
        roilist = list(roilist)
        if len(roilist) < 4:
            roilist.append((50, 4050))
        prefix = self._prefix
        self._save_rois = []
        for iroi, roi in enumerate(roilist):
            label = roi
            if isinstance(roi, tuple):
                lo, hi = roi
                label = '[%i:%i]' % (lo, hi)
            else:
                lo, hi = self._roi_limits(roi.lower().strip())
            self._save_rois.append(label)
            for imca in range(1, self.nmca + 1):
                caput("%sC%i_MCA_ROI%i_HLM" % (prefix, imca, iroi + 1), hi)
                caput("%sC%i_MCA_ROI%i_LLM" % (prefix, imca, iroi + 1), lo)

    def _roi_limits(self, name):
        """(LO, HI) of the first MCA's ROI called ``name``; (50, 4050) if none is."""
        for ix in range(MAX_ROIS):
            found = caget('%smca1.R%iNM' % (self._prefix, ix))
            if found.lower().strip() == name:
                return (caget('%smca1.R%iLO' % (self._prefix, ix)),
                        caget('%smca1.R%iHI' % (self._prefix, ix)))
        return 50, 4050

    def roi_calib_info(self):
        """Every channel's ROIs and the calibration, as the lines of an ini-style file."""
        lines = ['[rois]']
        rois = self.get_rois()
        for iroi, roi in enumerate(rois[0]):
            if len(roi.NM.strip()) > 0 and roi.HI > 0:
                limits = ' '.join('%s %s' % (rois[m][iroi].LO, rois[m][iroi].HI)
                                  for m in range(self.nmca))
                lines.append("ROI%2.2i = %s | %s" % (iroi, roi.NM, limits))
        return lines + _calib_lines(self.nmca)

    def restore_rois(self, roifile):
        """Set the ROIs of every MCA from a roi_calib_info() file (by energy, through
        the first MCA's calibration)."""
        _restore_rois(self.mcas, roifile)
