"""pyepics' ``epics.alarm``: run a callback when a PV's value crosses a trip point."""
from __future__ import annotations

import operator
import sys
import time

from . import pv


class Alarm:
    """Watch a PV and call ``callback`` when ``comparison(value, trip_point)`` turns true.

    comparison: 'eq', 'ne', 'le', 'lt', 'ge', 'gt' (or '==', '!=', '<=', '<', '>=',
    '>'), or any callable of two arguments. The callback runs when the alarm state
    goes from false to true, and not again within ``alert_delay`` seconds; it gets the
    keyword arguments of a PV callback plus ``trip_point`` and ``comparison``. Without
    a callback a line is written to standard output. The state is checked on value
    changes only.
    """

    ops = {'eq': operator.eq, '==': operator.eq,
           'ne': operator.ne, '!=': operator.ne,
           'le': operator.le, '<=': operator.le,
           'lt': operator.lt, '<': operator.lt,
           'ge': operator.ge, '>=': operator.ge,
           'gt': operator.gt, '>': operator.gt}

    def __init__(self, pvname, comparison=None, trip_point=None, callback=None,
                 alert_delay=10):
        if isinstance(pvname, pv.PV):
            self.pv = pvname
        elif isinstance(pvname, str):
            self.pv = pv.get_pv(pvname)
            self.pv.connect()
        if getattr(self, 'pv', None) is None or comparison is None or trip_point is None:
            raise UserWarning('alarm requires valid PV, comparison, and trip_point')

        self.trip_point = trip_point
        self.last_alert = 0
        self.alert_delay = alert_delay
        self.user_callback = callback
        self.cmp = None
        self.comp_name = 'Not Defined'
        if callable(comparison):
            self.cmp = comparison
            self.comp_name = comparison.__name__
        else:
            self.cmp = self.ops.get(comparison.replace('_', ''), None)
            if self.cmp is not None:
                self.comp_name = comparison
        self.alarm_state = False
        self.pv.add_callback(self.check_alarm)
        self.check_alarm()

    def __repr__(self):
        return (f"<Alarm pvname='{self.pv.pvname}',comp='{self.comp_name}',"
                f"'trip_point={self.trip_point}>")

    def reset(self):
        """Forget the alarm state and the time of the last alert."""
        self.last_alert = 0
        self.alarm_state = False

    def check_alarm(self, pvname=None, value=None, char_value=None, **kw):
        """PV callback: compare the new value with the trip point, alert on a rising edge."""
        if pvname is None or value is None or self.cmp is None or self.trip_point is None:
            return
        if char_value is None:
            char_value = value
        was_tripped = self.alarm_state
        self.alarm_state = self.cmp(value, self.trip_point)
        now = time.time()
        if self.alarm_state and not was_tripped and now - self.last_alert > self.alert_delay:
            self.last_alert = now
            if callable(self.user_callback):
                self.user_callback(pvname=pvname, value=value, char_value=char_value,
                                   trip_point=self.trip_point, comparison=self.comp_name,
                                   **kw)
            else:
                sys.stdout.write(f'Alarm: {pvname}={char_value} ({time.ctime()})\n')
