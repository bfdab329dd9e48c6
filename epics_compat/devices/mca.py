"""pyepics' ``epics.devices.mca``: the MCA record, its ROIs, and XIA DXP / xMAP systems.

An MCA record ``PREFIX`` holds a spectrum (VAL), its calibration (CALO, CALS, CALQ),
preset and elapsed times, and up to 32 regions of interest ``PREFIX.R<i>LO/HI/NM`` whose
sums are ``PREFIX.R<i>`` (net: ``PREFIX.R<i>N``).
"""
import time
from configparser import ConfigParser

import numpy as np

from .. import caget, caput
from ..ca import poll
from ..device import Device
from ..pv import get_pv
from ..utils import IOENCODING
from ._filesaver import FileSaverCalls as _FileSaverCalls

MAX_ROIS = 32


class DXP(Device):
    """The DXP parameters of an XIA channel: ``DXP('XX:', mca=1).PeakingTime``."""

    _attrs = ('PreampGain', 'MaxEnergy', 'ADCPercentRule', 'BaselineCutPercent',
              'BaselineThreshold', 'BaselineFilterLength', 'BaselineCutEnable',
              'InputCountRate', 'OutputCountRate', 'GapTime', 'PeakingTime',
              'EnergyThreshold', 'MaxWidth', 'PresetMode', 'TriggerPeakingTime',
              'TriggerGapTime', 'TriggerThreshold')

    def __init__(self, prefix, mca=1):
        self._prefix = "%sdxp%i" % (prefix, mca)
        Device.__init__(self, self._prefix, delim=':')
        poll()


def _background_subtracted(data, lo, hi, bgr_width):
    """Sum of ``data[lo:hi+1]`` less the mean of ``bgr_width`` bins each side times
    the width hi - lo."""
    total = data[lo:hi + 1].sum()
    left = max(lo - bgr_width, 0)
    right = min(hi + bgr_width, len(data) - 1) + 1
    background = np.concatenate((data[left:lo], data[hi + 1:right])).mean()
    return total - background * (hi - lo)


class ROI(Device):
    """Region of interest ``roi`` (0..31) of an MCA record.

    ``LO``/``left``, ``HI``/``right`` and ``NM``/``name`` read and write the ROI;
    ``total`` (or ``sum``) and ``net`` are its counts, ``center`` and ``width`` its
    place. ``data_pv`` reads the spectrum from another PV (default: the ROI's sum PV).
    ROIs compare (and sort) by their low channel.
    """

    _nonpvs = ('_prefix', '_pvs', '_delim', 'attrs', 'width', 'center', 'bgr_width',
               'address', 'net', 'total', '_dat_', '_net_')
    _aliases = {'left': 'LO', 'right': 'HI', 'name': 'NM'}

    def __init__(self, prefix, roi=0, bgr_width=3, data_pv=None):
        self.address = self._prefix = '%s.R%i' % (prefix, roi)
        self.bgr_width = bgr_width
        Device.__init__(self, self._prefix, delim='', attrs=('NM', 'LO', 'HI'),
                        aliases=self._aliases, with_poll=False)
        if data_pv is None:
            data_pv = self.address
        if isinstance(data_pv, str):
            data_pv = get_pv(data_pv)
        self._pvs['_dat_'] = data_pv
        self._pvs['_net_'] = get_pv(self.address + 'N')

    def __eq__(self, other):
        return (self.LO == getattr(other, 'LO', None)
                and self.HI == getattr(other, 'HI', None)
                and self.bgr_width == getattr(other, 'bgr_width', None))

    def __ne__(self, other):
        return not self.__eq__(other)

    def __lt__(self, other):
        return self.LO < getattr(other, 'LO', None)

    def __le__(self, other):
        return self.LO <= getattr(other, 'LO', None)

    def __gt__(self, other):
        return self.LO > getattr(other, 'LO', None)

    def __ge__(self, other):
        return self.LO >= getattr(other, 'LO', None)

    def __repr__(self):
        prefix = self._prefix[:-1] if self._prefix.endswith('.') else self._prefix
        return "<ROI '%s', name='%s', range=[%s:%s]>" % (prefix, self.NM, self.LO, self.HI)

    @property
    def total(self):
        return self.get_counts(net=False)

    @property
    def sum(self):
        return self.get_counts(net=False)

    @property
    def net(self):
        return self.get_counts(net=True)

    @property
    def center(self):
        return int(round(self.HI + self.LO) / 2.0)

    @property
    def width(self):
        return int(round(self.HI - self.LO))

    def clear(self):
        """Empty the ROI (no name, LO and HI -1)."""
        self.NM = ''
        self.LO = -1
        self.HI = -1

    def get_counts(self, data=None, net=False):
        """Counts in the ROI of spectrum ``data`` (default: read from the data PV).

        ``net`` subtracts a background taken from ``bgr_width`` bins each side. When
        the data PV gives a number rather than a spectrum, that number is returned
        (the record's own net sum for ``net``).
        """
        if data is None and self._pvs['_dat_'] is not None:
            data = self._pvs['_dat_'].get()
            if net and not isinstance(data, np.ndarray):
                data = self._pvs['_net_'].get()
        if not isinstance(data, np.ndarray):
            return data
        if not net:
            return data[self.LO:self.HI + 1].sum()
        return _background_subtracted(data, self.LO, self.HI, int(self.bgr_width))


def _calibration_map(mca, calib):
    """(offset, scale) taking channels of calibration ``calib`` to those of ``mca``."""
    if calib is None:
        return 0.0, 1.0
    off, slope, _ = mca.get_calib()
    return calib[0] - off, calib[1] / slope


class MCA(Device):
    """An MCA record: ``MCA('XX:mca1')``, or ``MCA('XX:', mca=1)`` for 'XX:mca1'.

    ``nrois`` bounds the ROIs read (default 32); ``data_pv`` is a PV the ROIs read
    their spectrum from.
    """

    _attrs = ('CALO', 'CALS', 'CALQ', 'TTH', 'EGU', 'PRTM', 'PLTM', 'ACQG', 'NUSE',
              'DWEL', 'ERTM', 'ELTM', 'IDTIM')
    _nonpvs = ('_prefix', '_pvs', '_delim', '_npts', 'rois', '_nrois', 'rois')

    def __init__(self, prefix, mca=None, nrois=None, data_pv=None):
        self._prefix = prefix
        self._npts = None
        self._nrois = MAX_ROIS if nrois is None else nrois
        self.rois = []
        if isinstance(mca, int):
            self._prefix = "%smca%i" % (prefix, mca)
        Device.__init__(self, self._prefix, delim='.', attrs=self._attrs, with_poll=False)
        # The spectrum is read when asked for, not monitored (it can be large).
        self._pvs['VAL'] = get_pv("%sVAL" % self._prefix, auto_monitor=False)
        self._pvs['_dat_'] = None if data_pv is None else get_pv(data_pv)
        poll()

    def _record_name(self):
        return self._prefix[:-1] if self._prefix.endswith('.') else self._prefix

    def get_rois(self, nrois=None):
        """Read the ROIs (up to the first empty one) into ``self.rois``; returns them."""
        self.rois = []
        data_pv = self._pvs['_dat_']
        record = self._record_name()
        for iroi in range(self._nrois if nrois is None else nrois):
            roi = ROI(prefix=record, roi=iroi, data_pv=data_pv)
            if roi.NM is None or len(roi.NM.strip()) <= 0 or roi.HI <= 0:
                break
            self.rois.append(roi)
        poll()
        return self.rois

    def del_roi(self, roiname):
        """Remove the ROIs named ``roiname`` (any case), keeping the others in order."""
        self.get_rois()
        for roi in self.rois:
            if roi.NM.strip().lower() == roiname.strip().lower():
                roi.clear()
        poll(0.010, 1.0)
        self.set_rois(self.rois)

    def add_roi(self, roiname, lo=-1, hi=-1, calib=None):
        """Add an ROI from channel ``lo`` to ``hi``; nothing if either is negative.

        With ``calib`` (offset, slope, quad of another MCA) the channels are those of
        that calibration, converted to this MCA's: the same energies.
        """
        if lo < 0 or hi < 0:
            return
        rois = self.get_rois()
        iroi = len(rois)
        if iroi >= MAX_ROIS:
            raise ValueError('too many ROIs - cannot add more %i/%i' % (iroi, MAX_ROIS))
        roi = ROI(prefix=self._record_name(), roi=iroi, data_pv=self._pvs['_dat_'])
        roi.NM = roiname.strip()
        offset, scale = _calibration_map(self, calib)
        roi.LO = round(offset + scale * lo)
        roi.HI = round(offset + scale * hi)
        rois.append(roi)
        self.set_rois(rois)

    def set_rois(self, rois, calib=None):
        """Write ``rois`` (ROI objects) sorted by LO, without gaps, and clear the
        rest; ``calib`` as in add_roi()."""
        data_pv = self._pvs['_dat_']
        record = self._record_name()
        offset, scale = _calibration_map(self, calib)
        poll(0.0050, 1.0)
        for roi in rois:  # every value is read before sorting compares them
            roi.get('NM'), roi.get('LO')
        wanted = [(roi.NM, roi.LO, roi.HI) for roi in sorted(rois)]
        self.rois = []
        for name, lo, hi in wanted:
            if len(name) < 1 or lo < 0 or hi < 0:
                continue
            roi = ROI(prefix=record, roi=len(self.rois), data_pv=data_pv)
            roi.NM = name.strip()
            roi.LO = round(offset + scale * lo)
            roi.HI = round(offset + scale * hi)
            self.rois.append(roi)
        for iroi in range(len(self.rois), MAX_ROIS):
            if caget("%s.R%iLO" % (record, iroi)) < 0:
                break
            caput("%s.R%iLO" % (record, iroi), -1)
            caput("%s.R%iHI" % (record, iroi), -1)
            caput("%s.R%iNM" % (record, iroi), '')

    def clear_rois(self, nrois=None):
        """Empty every ROI."""
        for roi in self.get_rois(nrois=nrois):
            roi.clear()
        self.rois = []

    def get_calib(self):
        """[offset, slope, quadratic] of the energy calibration."""
        return [self.get(field) for field in ('CALO', 'CALS', 'CALQ')]

    def get_energy(self):
        """The energy of each channel, from the calibration."""
        if self._npts is None:
            self._npts = len(self.get('VAL'))
        channels = np.arange(self._npts, dtype='f8')
        offset, slope, quad = self.get_calib()
        return offset + channels * (slope + channels * quad)


class MultiXMAP(_FileSaverCalls, Device):
    """An XIA xMAP system of ``nmca`` channels, with its file saving plugin
    (``filesaver``): DXP parameters in ``dxps``, spectra in ``mcas``."""

    attrs = ['PresetReal', 'Dwell', 'Acquiring', 'EraseStart', 'StopAll', 'PresetMode',
             'PixelsPerBuffer_RBV', 'NextPixel', 'PixelsPerRun', 'Apply', 'AutoApply',
             'CollectMode', 'SyncCount', 'BufferSize_RBV']
    pathattrs = ('FilePath', 'FileTemplate', 'FileWriteMode', 'FileName', 'FileNumber',
                 'FullFileName_RBV', 'Capture', 'NumCapture', 'WriteFile_RBV', 'AutoSave',
                 'EnableCallbacks', 'ArraySize0_RBV', 'FileTemplate_RBV', 'FileName_RBV',
                 'AutoIncrement')
    _nonpvs = ('_prefix', '_pvs', '_delim', 'filesaver', 'pathattrs', '_nonpvs', 'nmca',
               'dxps', 'mcas')

    def __init__(self, prefix, filesaver='netCDF1:', nmca=4):
        self.filesaver = filesaver
        self._prefix = prefix
        self.nmca = nmca
        self.dxps = [DXP(prefix, mca=i + 1) for i in range(nmca)]
        self.mcas = [MCA(prefix, mca=i + 1) for i in range(nmca)]
        Device.__init__(self, prefix, attrs=self.attrs, delim='', mutable=True)
        for attr in self.pathattrs:
            self.add_pv('%s%s%s' % (prefix, filesaver, attr), attr=attr)

    def get_calib(self):
        """The calibration of each MCA."""
        return [mca.get_calib() for mca in self.mcas]

    def get_rois(self):
        """The ROIs of each MCA."""
        return [mca.get_rois() for mca in self.mcas]

    def roi_calib_info(self):
        """ROIs, calibrations and DXP settings as the lines of an ini-style file."""
        lines = ['[rois]']
        rois = self.get_rois()
        for iroi in range(len(rois[0])):
            limits = ' '.join('%s %s' % (rois[m][iroi].LO, rois[m][iroi].HI)
                              for m in range(self.nmca))
            lines.append("ROI%2.2i = %s | %s" % (iroi, rois[0][iroi].NM, limits))
        calib = np.array(self.get_calib())
        lines.append('[calibration]')
        for label, column in (("OFFSET", 0), ("SLOPE ", 1), ("QUAD  ", 2)):
            values = ' '.join("%.7g" % value for value in calib[:, column])
            lines.append("%s = %s " % (label, values))
        lines.append('[dxp]')
        for attr in self.dxps[0]._attrs:
            values = [str(dxp.get(attr, as_string=True)).replace(' ', '_')
                      for dxp in self.dxps]
            lines.append("%s = %s" % (attr, ' '.join(values)))
        return lines

    def restore_rois(self, roifile):
        """Set the ROIs of every MCA from a roi_calib_info() file (by energy, through
        the first MCA's calibration)."""
        _restore_rois(self.mcas, roifile)

    def Write_CurrentConfig(self, filename=None):
        """The settings (general, ROIs, calibration, DXP) as text, also written to
        ``filename`` if given."""
        lines = ['#Multi-Element xMAP Settings saved: %s' % time.ctime(), '[general]',
                 'prefix= %s' % self._prefix, 'nmcas = %i' % self.nmca,
                 'filesaver= %s' % self.filesaver]
        # pyepics logs progress to an undefined name here (a NameError): left out.
        lines.extend(self.roi_calib_info())
        text = '\n'.join(lines)
        if filename is not None:
            with open(filename, 'w', encoding=IOENCODING) as out:
                out.write(text)
        return text

    def start(self):
        """Erase and start; a second EraseStart if acquisition has not begun."""
        self.EraseStart = 1
        if self.Acquiring == 0:
            poll()
            self.EraseStart = 1
        return self.EraseStart

    def stop(self):
        """Stop acquiring."""
        self.StopAll = 1
        return self.StopAll

    def next_pixel(self):
        """Advance to the next pixel."""
        self.NextPixel = 1
        return self.NextPixel

    def finish_pixels(self, timeout=2):
        """Wait up to ``timeout`` s for the run's pixels, then advance by hand through
        the missing ones; returns (whether all came, how many were missing)."""
        pixels = self.PixelsPerRun
        current = self.dxps[0].get('CurrentPixel')
        start = time.time()
        while current < pixels and time.time() - start < timeout:
            time.sleep(0.1)
            pixels = self.PixelsPerRun
            current = self.dxps[0].get('CurrentPixel')
        complete = current >= pixels
        if not complete:
            print('XMAP needs to finish pixels ', current, ' / ', pixels)
            for _ in range(pixels - current):
                self.next_pixel()
                time.sleep(0.10)
            self.FileCaptureOff()
        return complete, pixels - current

    def readmca(self, n=1):
        """The spectrum of MCA ``n``."""
        return self.get('mca%i' % n)

    def SCAMode(self):
        """SCA mapping mode."""
        self.CollectMode = 2

    def SpectraMode(self):
        """MCA spectra mode (waits up to 5 s for the buffer size to follow)."""
        self.stop()
        self.CollectMode = 0
        self.PresetMode = 0
        start = time.time()
        while time.time() - start < 5:
            self.CollectMode = 0
            time.sleep(0.05)
            if self.BufferSize_RBV < 16384:
                break

    def MCAMode(self, filename=None, filenumber=None, npulses=11):
        """MCA mapping mode for ``npulses`` pixels, streaming to the file plugin."""
        self.AutoApply = 1
        self.stop()
        self.PresetMode = 0
        self.setFileWriteMode(2)
        npulses = max(npulses, 2)
        self.CollectMode = 1
        self.PixelsPerRun = npulses
        # Pixels until the file plugin has seen a full-size array.
        self.FileCaptureOff()
        self.start()
        array_size = -1
        start = time.time()
        while array_size < 16384 and time.time() - start < 10:
            for _ in range(5):
                time.sleep(0.1)
                self.NextPixel = 1
                array_size = self.fileGet('ArraySize0_RBV')
                if array_size > 16384:
                    break
        self.PixelsPerRun = npulses
        self.SyncCount = 1
        self.setFileNumber(filenumber)
        if filename is not None:
            self.setFileName(filename)
        self.Apply = 1
        self.CollectMode = 1
        self.PixelsPerRun = npulses
        time.sleep(0.50)
        start = time.time()
        while time.time() - start < 10:
            time.sleep(0.25)
            if self.BufferSize_RBV > 16384:
                break
        pixels_per_buffer = self.PixelsPerBuffer_RBV
        time.sleep(0.25)
        if pixels_per_buffer is None:
            pixels_per_buffer = 124
        self.setFileNumCapture(1 + (npulses - 1) / pixels_per_buffer)
        start = time.time()
        while time.time() - start < 5:
            time.sleep(0.1)
            if self.BufferSize_RBV == self.fileGet('ArraySize0_RBV'):
                break
        time.sleep(0.5)

    def filePut(self, attr, value, **kw):
        """Write field ``attr`` of the file plugin."""
        return self.put("%s%s" % (self.filesaver, attr), value, **kw)

    def fileGet(self, attr, **kw):
        """Read field ``attr`` of the file plugin."""
        return self.get("%s%s" % (self.filesaver, attr), **kw)


def _rois_from_file(roifile):
    """(name, lo, hi) of each ROI of a roi_calib_info() file (the first channel's)."""
    config = ConfigParser()
    config.read(roifile)
    found = []
    for option in config.options('rois'):
        if option.lower().startswith('roi'):
            name, limits = config.get('rois', option).split('|')
            lo, hi = [int(word) for word in limits.split()][:2]
            found.append((name.strip(), lo, hi))
    return found


def _restore_rois(mcas, roifile):
    """Set the ROIs of every MCA of ``mcas`` from a roi_calib_info() file: in the first as
    written, in the others through the first one's calibration (by energy)."""
    mcas[0].clear_rois()
    record = mcas[0]._record_name()
    rois = []
    for name, lo, hi in _rois_from_file(roifile):
        roi = ROI(prefix=record, roi=len(rois))
        roi.LO = lo
        roi.HI = hi
        roi.NM = name
        rois.append(roi)
    poll(0.050, 1.0)
    mcas[0].set_rois(rois)
    calib = mcas[0].get_calib()
    for mca in mcas[1:]:
        mca.set_rois(rois, calib=calib)
