"""pyepics' ``epics.devices.scan``: the synApps sscan record.

A scan moves up to 4 positioners (P1..P4: drive PV, start, end, step, mode, table),
fires up to 4 detector triggers (T1..T4) at each of NPTS points, records up to 70
detectors (D01..D70) and runs when EXSC is set to 1 (a put with wait completes when
the scan is done).
"""
import threading

from ..ca import poll
from ..device import Device

NUM_POSITIONERS = 4
NUM_TRIGGERS = 4
NUM_DETECTORS = 70

#: P<i>SM, the positioner's step mode, by the start of the mode name.
_MODES = (('table', 1), ('fly', 2))


def _step_mode(mode):
    lowered = mode.lower()
    for start, number in _MODES:
        if lowered.startswith(start):
            return number
    return 0


class Scan(Device):
    """An sscan record: ``s = Scan('XX:scan1'); s.add_positioner('XX:m1.VAL', start=0,
    stop=1, step=0.1); s.add_detector('XX:scaler1.S1'); s.run(wait=True)``.

    Raises ScanException if the record is not an sscan (its RTYP).
    """

    attrs = ('VAL', 'SMSG', 'CMND', 'NPTS', 'EXSC', 'NAME', 'PDLY', 'PAUS', 'CPT', 'DDLY')
    #: Fields of each positioner P1..P4 and of each trigger T1..T4.
    pos_attrs = ('PV', 'SP', 'EP', 'SI', 'CP', 'WD', 'PA', 'AR', 'SM')
    trig_attrs = ('PV', 'NV')
    #: Long names of the first positioner's and trigger's fields, and a few others.
    _alias = {'device': 'P1PV', 'start': 'P1SP', 'end': 'P1EP', 'step': 'P1SI',
              'table': 'P1PA', 'absrel': 'P1AR', 'mode': 'P1SM', 'npts': 'NPTS',
              'execute': 'EXSC', 'trigger': 'T1PV', 'pause': 'PAUS',
              'current_point': 'CPT'}

    def __init__(self, name, **kwargs):
        fields = list(self.attrs)
        fields += ['P%i%s' % (ipos, field) for ipos in range(1, NUM_POSITIONERS + 1)
                   for field in self.pos_attrs]
        fields += ['T%i%s' % (itrig, field) for itrig in range(1, NUM_TRIGGERS + 1)
                   for field in self.trig_attrs]
        fields += ['D%2.2iPV' % idet for idet in range(1, NUM_DETECTORS + 1)]
        # Dropped, as in pyepics: set before Device.__init__ and not a _nonpvs name
        # (_onDone, which would release it, is never registered by pyepics either).
        self.waitSemaphore = threading.Semaphore(0)
        Device.__init__(self, name, delim='.', attrs=fields, **kwargs)
        for attr, field in Scan._alias.items():
            self.add_pv('%s.%s' % (name, field), attr)
        if self.get('RTYP') != 'sscan':
            raise ScanException("%s is not an Epics Scan" % name)
        self.put('SMSG', '')

    def run(self, wait=False, timeout=86400):
        """Start the scan; with ``wait``, return when it is done (at most ``timeout`` s)."""
        self.put('EXSC', 1, wait=wait, timeout=timeout)

    def _onDone(self, **kwargs):
        # A callback for EXSC: its return to 0 ends a scan.
        if kwargs['value'] == 0:
            self.waitSemaphore.release()

    def reset(self):
        """Clear the scan: no points, triggers, positioners or detectors."""
        self.put('NPTS', 0)
        for itrig in range(1, NUM_TRIGGERS + 1):
            self.clear_trigger(itrig)
        for ipos in range(1, NUM_POSITIONERS + 1):
            self.clear_positioner(ipos)
        for idet in range(1, NUM_DETECTORS + 1):
            self.clear_detector(idet)
        poll(1.e-3, 1.0)

    def _print(self):
        for label, field in (('PV', 'P1PV'), ('SP', 'P1SP'), ('EP', 'P1EP'),
                             ('NPTS', 'NPTS'), ('T ', 'T1PV')):
            print('%s = %s' % (label, self.get(field)))

    def _first_free(self, pattern, count, what):
        """The first index whose ``pattern`` field holds no PV name."""
        for index in range(1, count + 1):
            poll(1.e-3, 1.0)
            if len(self.get(pattern % index)) < 2:
                return index
        raise ScanException("%i %s already defined." % (count, what))

    def clear_detector(self, idet=1):
        """Remove detector ``idet`` (1..70)."""
        self.put('D%2.2iPV' % idet, '')
        poll(1.e-3, 1.0)

    def add_detector(self, detector):
        """Record PV ``detector`` in the first free detector slot; returns its index."""
        idet = self._first_free('D%2.2iPV', NUM_DETECTORS, 'Detectors')
        self.put('D%2.2iPV' % idet, detector, wait=True)
        return idet

    def clear_trigger(self, itrig=1):
        """Remove detector trigger ``itrig`` (1..4)."""
        self.put('T%iPV' % itrig, '')
        poll(1.e-3, 1.0)

    def add_trigger(self, trigger, value=1.0):
        """Write ``value`` to PV ``trigger`` at each point (first free trigger slot);
        returns its index."""
        itrig = self._first_free('T%iPV', NUM_TRIGGERS, 'Triggers')
        self.put('T%iPV' % itrig, trigger, wait=True)
        self.put('T%iCD' % itrig, value, wait=True)
        return itrig

    def clear_positioner(self, ipos=1):
        """Remove positioner ``ipos`` (1..4) and zero its settings."""
        for field in self.pos_attrs:
            empty = {'PV': '', 'PA': [0]}.get(field, 0)
            self.put('P%i%s' % (ipos, field), empty)
        self.put('R%iPV' % ipos, '')
        poll(1.e-3, 1.0)

    def add_positioner(self, drive, readback=None, start=None, stop=None, step=None,
                       center=None, width=None, mode='linear', absolute=True, array=None):
        """Move PV ``drive`` in the first free positioner slot; returns its index.

        ``readback`` defaults to the .RBV of a drive ending in .VAL; ``mode`` is
        'linear', 'table' or 'fly' (``array`` gives the points of the last two);
        ``absolute`` False makes the positions relative to where the scan starts.
        """
        ipos = self._first_free('P%iPV', NUM_POSITIONERS, 'Positioners')
        self.put('P%iPV' % ipos, drive, wait=True)
        if readback is None and drive.endswith('.VAL'):
            readback = drive[:-4] + '.RBV'
        if readback is not None:
            self.put('R%iPV' % ipos, readback)
        self.put('P%iAR' % ipos, 0 if absolute else 1)
        smode = _step_mode(mode)
        self.put('P%iSM' % ipos, smode)
        self._set_range(ipos, start, stop, step, center, width)
        if smode in (1, 2) and array is not None:
            self.put('P%iPA' % ipos, array)
        poll(1.e-3, 1.0)
        return ipos

    def _set_range(self, ipos, start, stop, step, center, width):
        for field, value in (('SP', start), ('EP', stop), ('SI', step), ('CP', center),
                             ('WD', width)):
            if value is not None:
                self.put('P%i%s' % (ipos, field), value)

    def set_positioner(self, ipos, drive=None, readback=None, start=None, stop=None,
                       step=None, center=None, width=None, mode=None, absolute=None,
                       array=None):
        """Change some settings of positioner ``ipos``; None leaves one as it is."""
        if ipos is None:
            raise ScanException("must give positioner index")
        if drive is not None:
            self.put('P%iPV' % ipos, drive)
        if readback is not None:
            self.put('R%iPV' % ipos, readback)
        self._set_range(ipos, start, stop, step, center, width)
        if array is not None:
            self.put('P%iPA' % ipos, array)
        if absolute is not None:
            self.put('P%iAR' % ipos, 0 if absolute else 1)
        if mode is not None:
            self.put('P%iSM' % ipos, _step_mode(mode))
        poll(1.e-3, 1.0)

    def after_scan(self, mode):
        """Set what the positioners do after the scan (PASM)."""
        self.put('PASM', mode, wait=True)

    def positioner_delay(self, pdelay):
        """Seconds to wait after the positioners move (PDLY)."""
        self.put('PDLY', pdelay, wait=True)

    def detector_delay(self, pdelay):
        """Seconds to wait after the triggers before reading the detectors (DDLY)."""
        self.put('DDLY', pdelay, wait=True)


class ScanException(Exception):
    """A problem with a scan (not an sscan record, no free slot, ...)."""

    def __init__(self, msg, *args):
        Exception.__init__(self, *args)
        self.msg = msg

    def __str__(self):
        return str(self.msg)
