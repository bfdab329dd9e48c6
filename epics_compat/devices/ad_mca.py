"""pyepics' ``epics.devices.ad_mca``: an MCA made of areaDetector pieces (the Xspress3
way): a spectrum array PV and ROIs of the ROIStat plugin, ``ROIPREFIX:<i>:MinX``, ...
"""
import numpy as np

from .. import caput
from ..ca import poll
from ..device import Device
from ..pv import PV, get_pv

MAX_CHAN = 4096
MAX_ROIS = 48
TOOMANY_ROIS = 'Too many ROIS, only %i ROIS allowed.' % (MAX_ROIS)


class ADMCAROI(Device):
    """ROI ``roi`` (from 1) of a ROIStat plugin ``prefix``: Name, MinX, SizeX and the
    plugin's sums (Total_RBV, Net_RBV); ``right`` and ``center`` can be set too.
    ROIs compare (and sort) by MinX."""

    _attrs = ('Use', 'Name', 'MinX', 'SizeX', 'BgdWidth', 'SizeX_RBV', 'MinX_RBV',
              'Total_RBV', 'Net_RBV')
    _aliases = {'left': 'MinX', 'width': 'SizeX', 'name': 'Name', 'sum': 'Total_RBV',
                'net': 'Net_RBV'}
    _nonpvs = ('_prefix', '_pvs', '_delim', '_init', '_aliases', 'data_pv')
    _reprfmt = "<ADMCAROI '%s', name='%s', range=[%s:%s]>"

    def __init__(self, prefix, roi=1, bgr_width=3, data_pv=None, with_poll=False):
        self._prefix = '%s:%i' % (prefix, roi)
        # Kept for get_counts(net=True); pyepics does not keep it (and then looks
        # for a PV named '...:bgr_width'). Not a _nonpvs name: stored directly.
        self.__dict__['bgr_width'] = bgr_width
        Device.__init__(self, self._prefix, delim=':', attrs=('Name', 'MinX'),
                        with_poll=with_poll)
        self._aliases = dict(ADMCAROI._aliases)
        self.data_pv = data_pv

    def __eq__(self, other):
        return (self.MinX == getattr(other, 'MinX', None)
                and self.SizeX == getattr(other, 'SizeX', None)
                and self.BgdWidth == getattr(other, 'BgdWidth', None))

    def __ne__(self, other):
        return not self.__eq__(other)

    def __lt__(self, other):
        return self.MinX < getattr(other, 'MinX', None)

    def __le__(self, other):
        return self.MinX <= getattr(other, 'MinX', None)

    def __gt__(self, other):
        return self.MinX > getattr(other, 'MinX', None)

    def __ge__(self, other):
        return self.MinX >= getattr(other, 'MinX', None)

    def __repr__(self):
        prefix = self._prefix[:-1] if self._prefix.endswith('.') else self._prefix
        return self._reprfmt % (prefix, self.Name, self.MinX, self.MinX + self.SizeX)

    def get_right(self):
        return self.MinX + self.SizeX

    def set_right(self, val):
        """Move the upper limit (the size changes, MinX stays)."""
        self._pvs['SizeX'].put(val - self.MinX)

    right = property(get_right, set_right)

    def get_center(self):
        return int(round(self.MinX + self.SizeX / 2.0))

    def set_center(self, val):
        """Move the ROI to center ``val`` (MinX changes, the size stays)."""
        self._pvs['MinX'].put(int(round(val - self.SizeX / 2.0)))

    center = property(get_center, set_center)

    def clear(self):
        """Empty the ROI."""
        self.Name = ''
        self.MinX = 0
        self.SizeX = 0

    def get_counts(self, data=None, net=False):
        """Counts in the ROI: summed from spectrum ``data`` (default: the data PV's),
        or the plugin's Total_RBV / Net_RBV when there is no spectrum. ``net``
        subtracts the background of ``bgr_width`` bins each side."""
        if data is None and self.data_pv is not None:
            data = self.data_pv.get()
        if not isinstance(data, np.ndarray):
            return self.Net_RBV if net else self.Total_RBV
        lo, hi = self.MinX, self.MinX + self.SizeX
        total = data[lo:hi + 1].sum()
        if not net:
            return total
        width = int(self.bgr_width)
        left, right = max(lo - width, 0), min(hi + width, len(data) - 1) + 1
        background = np.concatenate((data[left:lo], data[hi + 1:right])).mean()
        return total - background * (hi - lo)


class ADMCA(Device):
    """An MCA of AcquireTime/Acquire/NumImages at ``prefix``, its spectrum at
    ``data_pv`` and its ROIs in the ROIStat plugin ``roi_prefix`` (up to ``nrois``)."""

    _attrs = ('AcquireTime', 'Acquire', 'NumImages')
    _nonpvs = ('_prefix', '_pvs', '_delim', '_roi_prefix', '_npts', 'rois', '_nrois',
               'rois', '_calib')
    #: The energy calibration (offset, slope, quadratic): fixed, 10 eV per channel.
    _calib = (0.00, 0.01, 0.00)

    def __init__(self, prefix, data_pv=None, nrois=None, roi_prefix=None):
        self._prefix = prefix
        Device.__init__(self, self._prefix, delim='', attrs=self._attrs, with_poll=False)
        if data_pv is not None:
            self._pvs['VAL'] = PV(data_pv)
        self._npts = None
        self._nrois = MAX_ROIS if nrois is None else nrois
        self._roi_prefix = roi_prefix
        for iroi in range(1, self._nrois + 1):  # connect them all at once
            for field in ('Name', 'MinX', 'SizeX'):
                get_pv('%s:%i:%s' % (self._roi_prefix, iroi, field))
        self.get_rois()
        poll()

    def start(self):
        """Start acquiring; returns Acquire."""
        self.Acquire = 1
        poll()
        return self.Acquire

    def stop(self):
        """Stop acquiring; returns Acquire."""
        self.Acquire = 0
        return self.Acquire

    def get_calib(self):
        """(offset, slope, quadratic) of the energy calibration."""
        return self._calib

    def get_energy(self):
        """The energy of each channel of the spectrum."""
        if self._npts is None and self._pvs['VAL'] is not None:
            self._npts = len(self.get('VAL'))
        channels = np.arange(self._npts, dtype='f8')
        offset, slope, quad = self._calib
        return offset + channels * (slope + channels * quad)

    def clear_rois(self, nrois=None):
        """Empty every ROI."""
        if self.rois is None:
            self.get_rois()
        for roi in self.rois:
            roi.clear()
        self.rois = []

    def get_rois(self, nrois=None):
        """Read the ROIs (up to the first empty one) into ``self.rois``; returns them."""
        self.rois = []
        data_pv = self._pvs['VAL']
        poll()
        data_pv.connect()
        if self._roi_prefix is None:
            return self.rois
        for iroi in range(1, (self._nrois if nrois is None else nrois) + 1):
            roi = ADMCAROI(prefix=self._roi_prefix, roi=iroi, data_pv=data_pv)
            if roi.Name is None:  # not connected yet: once more, with a poll
                roi = ADMCAROI(prefix=self._roi_prefix, roi=iroi, data_pv=data_pv,
                               with_poll=True)
            if roi.Name is None:
                continue
            if not (len(roi.Name.strip()) > 0 and roi.MinX > 0 and roi.SizeX > 0):
                break
            self.rois.append(roi)
            poll(0.001, 1.0)
        return self.rois

    def del_roi(self, roiname):
        """Remove the ROIs named ``roiname`` (any case) and close the gap."""
        if self.rois is None:
            self.get_rois()
        for roi in self.rois:
            if roi.Name.strip().lower() == roiname.strip().lower():
                roi.clear()
        poll(0.010, 1.0)
        self.sort_rois()

    def add_roi(self, roiname, lo, wid=None, hi=None, sort=True):
        """Add an ROI from channel ``lo`` to ``hi`` (or of width ``wid``), kept within
        the spectrum; nothing without ``lo`` and one of the others."""
        if lo is None or (hi is None and wid is None):
            return
        if self.rois is None:
            self.get_rois()
        iroi = len(self.rois) + 1
        if iroi > MAX_ROIS:
            raise ValueError(TOOMANY_ROIS)
        roi = ADMCAROI(prefix=self._roi_prefix, roi=iroi, data_pv=self._pvs['VAL'])
        roi.Name = roiname.strip()
        nmax = MAX_CHAN
        if self._npts is None and self._pvs['VAL'] is not None:
            nmax = self._npts = len(self.get('VAL'))
        roi.MinX = min(nmax - 1, lo)
        if hi is not None:
            roi.SizeX = min(nmax, hi) - lo
        elif wid is not None:
            roi.SizeX = min(nmax, wid + roi.MinX) - roi.MinX
        self.rois.append(roi)
        if sort:
            self.sort_rois()

    def sort_rois(self):
        """Write the ROIs back sorted by MinX, from ROI 1 on, and clear the one after."""
        if self.rois is None:
            self.get_rois()
        poll(0.05, 1.0)
        # pyepics counts empty ROIs with '=+' (so at most one): kept, it stops nothing.
        self.rois = sorted(roi for roi in self.rois
                           if len(roi.Name) > 0 and roi.right > 0)
        values = [(roi.Name, roi.MinX, roi.SizeX) for roi in self.rois]
        prefix = self._roi_prefix
        for iroi, (name, minx, sizex) in enumerate(values + [('', 0, 0)], start=1):
            caput("%s:%i:Name" % (prefix, iroi), name)
            caput("%s:%i:MinX" % (prefix, iroi), minx)
            caput("%s:%i:SizeX" % (prefix, iroi), sizex)
        self.get_rois()

    def set_rois(self, roidata):
        """Replace the ROIs by (name, lo, hi) items (named, non-empty ones only)."""
        self.clear_rois()
        count = 0
        for name, lo, hi in roidata:
            if len(name) > 0 and hi > lo and hi > 0:
                count += 1
                if count >= MAX_ROIS:
                    raise ValueError(TOOMANY_ROIS)
                self.add_roi(name, lo, hi=hi, sort=False)
        self.sort_rois()
