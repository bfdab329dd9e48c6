"""pyepics' ``epics.devices.srs570``: the SRS570 current preamplifier (synApps ip).

The sensitivity is a step (``sens_num``: 1, 2, 5, ... 500) and a unit (``sens_unit``:
pA/V .. mA/V), both menus; ``init.PROC`` sends the settings to the amplifier.
"""
from ..device import Device

VALID_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500]
VALID_UNITS = ['pA/V', 'nA/V', 'uA/V', 'mA/V']


class SRS570(Device):
    """An SRS570 amplifier: ``SRS570('XX:A1').set_sensitivity(200, 'nA/V')``.

    Making one initializes it (low-noise gain, no filter, no inversion, bias 0).
    """

    attrs = ('sens_num', 'sens_unit', 'offset_num', 'offset_unit', 'offset_sign',
             'offset_on', 'off_u_put', 'bias_put', 'gain_mode', 'filter_type',
             'invert_on', 'init.PROC')
    _nonpvs = ('_prefix', '_pvs', '_delim', '_nchan', '_chans')

    def __init__(self, prefix):
        Device.__init__(self, prefix, delim='', attrs=self.attrs, mutable=False)
        self.initialize()

    def initialize(self, bias=0, gain_mode=0, filter_type=0, invert=False):
        """Set gain mode (0: low noise), filter type (0: none), inversion and bias."""
        self.put('gain_mode', gain_mode)
        self.put('filter_type', filter_type)
        self.put('invert_on', 1 if invert else 0)
        self.put('bias_put', bias)

    def set_sensitivity(self, value, units, offset=None, scale_offset=True):
        """Set the sensitivity to ``value`` ``units`` (200, 'nA/V', say).

        With ``scale_offset`` the input offset current follows, at a tenth of the
        sensitivity; ``offset`` sets the offset value. An invalid step or unit is
        reported on standard output and changes nothing.
        """
        if value not in VALID_STEPS or units not in VALID_UNITS:
            print('invalid input')
            return
        step, unit = VALID_STEPS.index(value), VALID_UNITS.index(units)
        self.put('sens_num', step)
        self.put('sens_unit', unit)
        if scale_offset:
            # A tenth: three steps down (1-2-5 per decade), borrowing from the unit.
            offset_step, offset_unit = step - 3, unit
            if offset_step < 0:
                offset_step, offset_unit = step + 6, unit - 1
            self.put('offset_num', offset_step)
            self.put('offset_unit', offset_unit)
        if offset is not None:
            self.set_offset(offset)
        self.put('init.PROC', 1)

    def set_offset(self, value):
        """Set the offset current value (off_u_put)."""
        self.put('off_u_put', value)

    def increase_sensitivity(self):
        """One step more sensitive (a smaller A/V), stopping at 1 pA/V."""
        step, unit = self.get('sens_num'), self.get('sens_unit')
        if step == 0:
            step, unit = 9, unit - 1
            if unit < 0:
                step, unit = 1, 0
        self.set_sensitivity(VALID_STEPS[step - 1], VALID_UNITS[unit])

    def decrease_sensitivity(self):
        """One step less sensitive (a larger A/V), stopping at 500 mA/V."""
        step, unit = self.get('sens_num'), self.get('sens_unit')
        if step == 8:
            step, unit = -1, unit + 1
            if unit > 3:
                step, unit = 7, 3
        self.set_sensitivity(VALID_STEPS[step + 1], VALID_UNITS[unit])
