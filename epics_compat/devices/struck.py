"""pyepics' ``epics.devices.struck``: a Struck SIS3820 multichannel scaler (synApps mca).

The SIS counts each input into channel after channel of an MCA record per input
(``PREFIX:mca1`` .. ``mcaN``), advancing on its internal dwell clock or on an external
pulse (ChannelAdvance); EraseStart clears and starts, StopAll stops. The first input is
usually the clock, so ``saveMCAdata`` writes its column as time in microseconds.
"""
import sys  # noqa: F401 -- a name of pyepics' module too
import time

import numpy

from ..device import Device
from ..utils import IOENCODING
from .mca import MCA
from .scaler import Scaler

#: The header of saveMCAdata() files: prefix, points, MCA count, addresses, names.
HEADER = '''# Struck MCA data: %s
# Nchannels, Nmca = %i, %i
# Time in microseconds
#----------------------
# %s
# %s
'''


class Struck(Device):
    """A Struck SIS at ``prefix`` (a ':' is added if missing) with ``nchan`` inputs.

    ``scaler`` names the scaler record of the same module (for the channel names);
    ``clockrate`` is the rate of the clock input, in MHz.
    """

    attrs = ('ChannelAdvance', 'Prescale', 'EraseStart', 'EraseAll', 'StartAll',
             'StopAll', 'PresetReal', 'ElapsedReal', 'Dwell', 'Acquiring', 'NuseAll',
             'CurrentChannel', 'CountOnStart', 'SoftwareChannelAdvance', 'Channel1Source',
             'ReadAll', 'DoReadAll', 'Model', 'Firmware')
    _nonpvs = ('_prefix', '_pvs', '_delim', '_nchan', 'clockrate', 'scaler', 'mcas')

    def __init__(self, prefix, scaler=None, nchan=8, clockrate=50.0):
        if not prefix.endswith(':'):
            prefix = "%s:" % prefix
        self._nchan = nchan
        self.clockrate = clockrate
        self.scaler = None if scaler is None else Scaler(scaler, nchan=nchan)
        self.mcas = [MCA(prefix, mca=i + 1, nrois=2) for i in range(nchan)]
        Device.__init__(self, prefix, delim='', attrs=self.attrs, mutable=False)

    def _one_shot_scaler(self):
        if self.scaler is not None:
            self.scaler.OneShotMode()

    def ExternalMode(self, countonstart=0, initialadvance=None, realtime=0, prescale=1):
        """Advance channels on external pulses. None leaves a setting as it is:
        ``countonstart`` (CountOnStart), ``initialadvance`` (InitialChannelAdvance),
        ``realtime`` (PresetReal, 0: no limit), ``prescale`` (pulses per channel).
        Returns the result of the ChannelAdvance put."""
        out = self.put('ChannelAdvance', 1)
        self._one_shot_scaler()
        for field, value in (('PresetReal', realtime), ('Prescale', prescale),
                             ('CountOnStart', countonstart),
                             # pyepics spells this 'InitialChannelAdvancel', a PV
                             # no SIS has: it waits for it, then fails.
                             ('InitialChannelAdvance', initialadvance)):
            if value is not None:
                self.put(field, value)
        return out

    def InternalMode(self, prescale=None):
        """Advance channels on the internal dwell clock."""
        out = self.put('ChannelAdvance', 0)
        self._one_shot_scaler()
        if prescale is not None:
            self.put('Prescale', prescale)
        return out

    def setPresetReal(self, val):
        """Stop after ``val`` seconds (0: no limit)."""
        return self.put('PresetReal', val)

    def setDwell(self, val):
        """Seconds per channel with the internal clock."""
        return self.put('Dwell', val)

    def AutoCountMode(self):
        """Put the scaler (if any) back to counting by itself."""
        if self.scaler is not None:
            self.scaler.AutoCountMode()

    def start(self):
        """Erase and start."""
        self._one_shot_scaler()
        return self.put('EraseStart', 1)

    def stop(self):
        """Stop acquiring."""
        return self.put('StopAll', 1)

    def erase(self):
        """Erase the spectra."""
        return self.put('EraseAll', 1)

    def mcaNread(self, nmca=1):
        """How many channels MCA ``nmca`` holds (its NORD)."""
        return self.get('mca%i.NORD' % nmca)

    def readmca(self, nmca=1, count=None):
        """The spectrum of MCA ``nmca`` (at most ``count`` channels)."""
        return self.get('mca%i' % nmca, count=count)

    def read_all_mcas(self):
        """The spectra of all MCAs."""
        return [self.readmca(nmca=i + 1) for i in range(self._nchan)]

    def saveMCAdata(self, fname='Struck.dat', mcas=None, ignore_prefix=None, npts=None):
        """Write the spectra as columns of a text file (the first, the clock, turned
        into microseconds); MCAs with no name and no counts are left out. Returns
        (number of columns, number of rows). ``mcas``, ``ignore_prefix`` and ``npts``
        are accepted and, as in pyepics, not used."""
        columns, names, addresses = [], [], []
        length = None
        time.sleep(0.005)
        for nmca in range(1, self._nchan + 1):
            name, address = 'MCA%i' % nmca, '%s.MCA%i' % (self._prefix, nmca)
            time.sleep(0.002)
            if self.scaler is not None:
                scaler_name = self.scaler.get('NM%i' % nmca)
                if scaler_name is not None:
                    name = scaler_name.replace(' ', '_')
                    address = self.scaler._prefix + 'S%i' % nmca
            data = self.readmca(nmca=nmca)
            length = len(data) if length is None else min(length, len(data))
            if len(name) > 0 or sum(data) > 0:
                names.append(name)
                addresses.append(address)
                columns.append(data)
        table = numpy.array([column[:length] for column in columns]).transpose()
        table[:, 0] = table[:, 0] / self.clockrate
        nrows, ncolumns = table.shape
        row_format = '%9i ' * ncolumns + '\n'
        with open(fname, 'w', encoding=IOENCODING) as out:
            out.write(HEADER % (self._prefix, min(nrows, length), ncolumns,
                                ' | '.join(addresses), ' | '.join(names)))
            for row in table:
                out.write(row_format % tuple(row))
        return (ncolumns, min(nrows, length))
