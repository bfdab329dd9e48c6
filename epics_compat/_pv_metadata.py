"""What a PV knows of its channel and its last value, as read-only properties, and the
fetching of what it does not know yet (TIME and CTRL metadata).

``PVMetadata`` is a base of ``PV``: each property reads an entry of ``PV._args``, the
dict that is also the keyword arguments of every callback, and fetches it when unknown.
"""
from __future__ import annotations

import functools
from math import log10

from . import ca, dbr
from ._pv_context import ensure_context

_TIME_ARGS = ('status', 'severity', 'timestamp', 'posixseconds', 'nanoseconds')
#: What the update of a completed put changes: read anew while that update is missing.
_PUT_ARGS = ('value', 'char_value') + _TIME_ARGS


@functools.lru_cache(maxsize=None)
def type_name(ftype) -> str:
    """'time_double' for dbr.TIME_DOUBLE...: one string shared by every PV of a type."""
    return dbr.Name(ftype).lower()


def metadata_property(name: str, doc: str) -> property:
    """A read-only property for one entry of ``PV._args``, fetched when still unknown."""
    def getter(self):
        return self._getarg(name)
    getter.__name__ = name
    return property(getter, None, None, doc)


class PVMetadata:
    """The metadata half of a PV (see ``PV``)."""

    @ensure_context
    def get_ctrlvars(self, timeout=5, warn=True):
        """Fetch the CTRL metadata (limits, units, precision, enum strings) into _args."""
        if not self.wait_for_connection():
            return None
        kwds = ca.get_ctrlvars(self.chid, timeout=timeout, warn=warn)
        if kwds is not None:
            self._args.update(kwds)
        self.force_read_access_rights()
        return kwds

    @ensure_context
    def get_timevars(self, timeout=5, warn=True):
        """Fetch the TIME metadata (status, severity, timestamp) into _args."""
        if not self.wait_for_connection():
            return None
        kwds = ca.get_timevars(self.chid, timeout=timeout, warn=warn)
        if kwds is not None:
            self._args.update(kwds)
        return kwds

    def _set_charval(self, val, call_ca=True, force_long_string=False):
        """Set and return ``char_value``, the text form of ``val`` (pyepics' rules)."""
        if val is None:
            self._args['char_value'] = 'None'
            return 'None'
        ftype = self._args['ftype']
        ntype = dbr.native_type(ftype) if ftype is not None else None
        if ntype == dbr.STRING:
            self._args['char_value'] = val
            return val
        if ntype == dbr.CHAR and (self.count < ca.AUTOMONITOR_MAXLENGTH
                                  or force_long_string is True):
            cval = _chars_to_text(val)
            self._args['char_value'] = cval
            return cval

        if self.count > 1:
            try:
                length = len(val)
            except TypeError:
                length = 1
            cval = f'<array size={length}, type={dbr.Name(ftype).lower()}>'
        elif ntype in (dbr.FLOAT, dbr.DOUBLE):
            if call_ca and self._args['precision'] is None:
                self.get_ctrlvars()
            precision = self._args['precision']
            if precision is None:
                # What the formatting below ends in, without raising and catching a
                # TypeError at every monitor update of a PV whose CTRL data is unknown.
                cval = str(val)
            else:
                try:
                    style = 'g' if 4 < abs(int(log10(abs(val + 1.e-9)))) else 'f'
                    cval = ('%%.%d%s' % (precision, style)) % val
                except (ValueError, TypeError, ArithmeticError):
                    cval = str(val)
        elif ntype == dbr.ENUM:
            if call_ca and self._args['enum_strs'] in ([], None):
                self.get_ctrlvars()
            try:
                cval = self._args['enum_strs'][val]
            except (TypeError, KeyError, IndexError):
                cval = str(val)
        else:
            cval = repr(val)
        self._args['char_value'] = cval
        return cval

    def _getarg(self, arg):
        """An entry of _args, fetching the value, TIME or CTRL metadata when unknown."""
        if self._unconfirmed_put and arg in _PUT_ARGS:
            # The update of a completed put has not come: read what the put left.
            self.get()
            self._set_charval(self._args['value'], call_ca=False)
        elif self._args['value'] is None:
            self.get()
        if self._args[arg] is None:
            if arg in _TIME_ARGS:
                self.get_timevars(timeout=1, warn=False)
            else:
                self.get_ctrlvars(timeout=1, warn=False)
        return self._args.get(arg, None)


    status = metadata_property('status', "Alarm status (an integer, see dbr.AlarmStatus).")

    @property
    def char_status(self):
        """Alarm status as its name ('NO_ALARM', 'HIGH', ...)."""
        return dbr.AlarmStatus(self.status).name

    @property
    def type(self):
        """DBR type name of the PV's form ('time_double', 'ctrl_enum', 'string', ...)."""
        return self._args['type']

    @property
    def typefull(self):
        """DBR type name of the PV's form, set at connection."""
        return self._args['typefull']

    host = metadata_property('host', "'host:port' of the server.")

    @property
    def count(self):
        """Number of elements received (at most the ``count`` asked for); see nelm."""
        if self._args['count'] is not None:
            return self._args['count']
        return self._getarg('count')

    @property
    @ensure_context
    def nelm(self):
        """Native element count of the channel (a waveform's NELM)."""
        return ca.element_count(self.chid)

    read_access = metadata_property('read_access', "Whether the client may read.")
    write_access = metadata_property('write_access', "Whether the client may write.")
    access = metadata_property('access', "'read/write', 'read-only', 'write-only' or "
                                         "'no access'.")
    monitor_delta = metadata_property('monitor_delta', "The monitor_delta given at "
                                                       "creation (not applied).")
    severity = metadata_property('severity', "Alarm severity: 0 NO_ALARM, 1 MINOR, "
                                             "2 MAJOR, 3 INVALID.")

    @property
    def char_severity(self):
        """Alarm severity as its name ('NO_ALARM', 'MINOR', 'MAJOR', 'INVALID')."""
        return dbr.AlarmSeverity(self.severity).name

    timestamp = metadata_property('timestamp', "POSIX time of the last value.")
    posixseconds = metadata_property('posixseconds', "Whole POSIX seconds of the last "
                                                     "value's timestamp.")
    nanoseconds = metadata_property('nanoseconds', "Nanoseconds of the last value's "
                                                   "timestamp.")
    precision = metadata_property('precision', "Digits after the decimal point (PREC).")
    units = metadata_property('units', "Engineering units (EGU).")
    enum_strs = metadata_property('enum_strs', "The state names of an enum PV.")
    upper_disp_limit = metadata_property('upper_disp_limit', "Upper display limit (HOPR).")
    lower_disp_limit = metadata_property('lower_disp_limit', "Lower display limit (LOPR).")
    upper_alarm_limit = metadata_property('upper_alarm_limit', "Upper alarm limit (HIHI).")
    lower_alarm_limit = metadata_property('lower_alarm_limit', "Lower alarm limit (LOLO).")
    lower_warning_limit = metadata_property('lower_warning_limit',
                                            "Lower warning limit (LOW).")
    upper_warning_limit = metadata_property('upper_warning_limit',
                                            "Upper warning limit (HIGH).")
    upper_ctrl_limit = metadata_property('upper_ctrl_limit', "Upper control limit (DRVH).")
    lower_ctrl_limit = metadata_property('lower_ctrl_limit', "Lower control limit (DRVL).")


def _chars_to_text(val) -> str:
    """A char array (or one char) as text up to its first NUL, right-stripped."""
    if ca.HAS_NUMPY and isinstance(val, ca.numpy.ndarray):
        codes = val.tolist()
        if not isinstance(codes, list):
            codes = [codes]
    else:
        try:
            codes = list(val)
        except TypeError:
            codes = [val]
    if 0 in codes:
        codes = codes[:codes.index(0)]
    try:
        return ''.join(chr(code) for code in codes).rstrip()
    except (ValueError, TypeError):
        return ''
