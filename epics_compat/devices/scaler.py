"""pyepics' ``epics.devices.scaler``: the synApps scaler record.

CNT=1 starts counting for the preset time TP (the record drops CNT back to 0 when it is
done, which completes a put with wait); S1..Sn are the counts, NM1..NMn the channel names;
the user calc records ``PREFIX_calc1`` .. hold derived values.
"""
from ..ca import poll
from ..device import Device


class Scaler(Device):
    """A scaler of ``nchan`` channels: ``Scaler('XX:scaler1').Count(1.0, wait=True)``."""

    attrs = ('CNT', 'CONT', 'TP', 'T', 'VAL')
    #: Attribute -> full PV name pattern ('%s' is the prefix).
    attr_kws = {'calc_enable': '%s_calcEnable.VAL'}
    #: Per-channel fields ('%i' is the channel number, from 1).
    chan_attrs = ('NM%i', 'S%i')
    #: Per-channel calc PVs, patterns of the attribute and of the PV name.
    calc_attrs = {'calc%i': '%s_calc%i.VAL', 'expr%i': '%s_calc%i.CALC'}
    _nonpvs = ('_prefix', '_pvs', '_delim', '_nchan', '_chans')

    def __init__(self, prefix, nchan=8):
        self._nchan = nchan
        self._chans = range(1, nchan + 1)
        fields = list(self.attrs) + [pattern % chan for chan in self._chans
                                     for pattern in self.chan_attrs]
        Device.__init__(self, prefix, delim='.', attrs=fields)
        for attr, pattern in self.attr_kws.items():
            self.add_pv(pattern % prefix, attr=attr)
        for chan in self._chans:
            for attr, pattern in self.calc_attrs.items():
                self.add_pv(pattern % (prefix, chan), attr=attr % chan)
        self._mutable = False

    def AutoCountMode(self):
        """Count continuously (CONT=AutoCount)."""
        self.put('CONT', 1)

    def OneShotMode(self):
        """Count only when told (CONT=OneShot)."""
        self.put('CONT', 0)

    def CountTime(self, ctime):
        """Set the preset count time TP, in seconds."""
        self.put('TP', ctime)

    def Count(self, ctime=None, wait=False):
        """Start counting (for ``ctime`` seconds if given); ``wait`` until it is done."""
        if ctime is not None:
            self.CountTime(ctime)
        self.put('CNT', 1, wait=wait)
        poll()

    def EnableCalcs(self):
        """Turn the user calcs on."""
        self.put('calc_enable', 1)

    def setCalc(self, i, calc):
        """Set the expression of the calc of channel ``i``."""
        self.put('expr%i' % i, calc)

    def getNames(self):
        """The channel names NM1..NMn."""
        return [self.get('NM%i' % chan) for chan in self._chans]

    def Read(self, use_calc=False):
        """The counts S1..Sn, or with ``use_calc`` the calc values."""
        pattern = 'calc%i' if use_calc else 'S%i'
        return [self.get(pattern % chan) for chan in self._chans]
