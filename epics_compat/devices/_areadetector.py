"""The shape shared by the areaDetector cam and plugin devices: fields named
``PREFIX + field`` (``13SIM1:cam1:Acquire``), with setting readbacks ``field_RBV``."""
from __future__ import annotations

from ..device import Device


class ADFields(Device):
    """A Device for an areaDetector driver or plugin; the subclass lists ``attrs``.

    Only the listed fields are attributes (``mutable=False``).
    """

    attrs: tuple = ()
    _nonpvs = ('_prefix', '_pvs', '_delim')

    def __init__(self, prefix):
        Device.__init__(self, prefix, delim='', mutable=False, attrs=self.attrs)

    def ensure_value(self, attr, value, wait=False):
        """Write ``value`` to ``attr`` unless its readback ``attr_RBV`` (as text)
        already shows it; without a readback, always write and return put()'s result."""
        readback = "%s_RBV" % attr
        if readback not in self._pvs:
            return self._pvs[attr].put(value, wait=wait)
        if self._pvs[readback].get(as_string=True) != value:
            self._pvs[attr].put(value, wait=wait)
        return None
