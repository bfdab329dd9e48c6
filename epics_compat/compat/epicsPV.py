"""Mark Rivers' epicsPV API (from CaChannel days) on top of ``epics_compat.PV``.

pyepics 3.5.10 ships this class but its constructor raises NameError (it calls a ``PV``
it never imported); here it works, as its documentation describes.
"""
from __future__ import annotations

from ..ca import poll
from ..pv import PV


class epicsPV(PV):
    """A PV with epicsPV's methods: getw/putw/putWait, setMonitor/checkMonitor, getControl.

    ``wait``: with a name, wait for the connection before returning.
    """

    def __init__(self, pvname=None, wait=True):
        PV.__init__(self, pvname)
        self.monitorState = False
        if pvname is not None and wait:
            self.connect()

    def _getCallback(self, pvname=None, value=None, **kw):
        self.monitorState = True

    def setMonitor(self):
        """Note each value change from now on, for checkMonitor()."""
        self.monitorState = False
        self.add_callback(callback=self._getCallback)

    def clearMonitor(self):
        """Forget value changes noted so far."""
        self.monitorState = False

    def checkMonitor(self):
        """True if the value changed since the last check (or setMonitor); resets."""
        poll()
        changed, self.monitorState = self.monitorState, False
        return changed

    def getControl(self):
        """The control variables (limits, units, precision, status...) as a dict."""
        poll()
        return self.get_ctrlvars()

    def array_get(self, count=None):
        """The value (at most ``count`` elements)."""
        return self.getw(count=count)

    def getw(self, count=None):
        """The value (at most ``count`` elements)."""
        return self.get(count=count)

    def getValue(self):
        """The most recent value."""
        return self.get()

    def putw(self, value, wait=False):
        """Write ``value``; with ``wait``, until the server has processed it."""
        self.put(value, wait=wait)

    def putWait(self, value):
        """Write ``value`` and wait until the server has processed it."""
        self.put(value, wait=True)
