"""Record-like fields of a served PV: ``NAME.DESC``, ``.EGU``, ``.PREC``, limits, alarm.

Clients (pyepics ``PV``/``Device``, ophyd, display managers) read fields of a record
beside its value: units from ``.EGU``, limits from ``.HOPR``/``.DRVH``, the alarm from
``.SEVR``/``.STAT``, the record type from ``.RTYP``. ``RecordFields`` serves them for one
PV and keeps them in step with it by observing it: a changed alarm or metadata of the PV
shows in its fields, and a client's write to a metadata field changes the PV.
(``NAME.VAL`` is the PV itself; the server resolves it.)
"""
from __future__ import annotations

import math
from typing import Any

from caproto_core import AlarmSeverity, AlarmStatus, SubscriptionType

from .pv import PV, Done

#: Limit fields and the metadata limit each one is.
LIMIT_FIELDS = {"HOPR": "upper_disp_limit", "LOPR": "lower_disp_limit",
                "DRVH": "upper_ctrl_limit", "DRVL": "lower_ctrl_limit",
                "HIHI": "upper_alarm_limit", "HIGH": "upper_warning_limit",
                "LOW": "lower_warning_limit", "LOLO": "lower_alarm_limit"}
SEVERITY_STATES = ("NO_ALARM", "MINOR", "MAJOR", "INVALID")
STATUS_STATES = tuple(status.name for status in AlarmStatus)
#: Every field served, in the order ``dbpr`` would list them.
FIELD_NAMES = ("NAME", "DESC", "RTYP", "EGU", "PREC", *LIMIT_FIELDS, "SEVR", "STAT")

_ALARM = SubscriptionType.DBE_ALARM
_PROPERTY = SubscriptionType.DBE_PROPERTY


class RecordFields:
    """The fields of ``pv``; ``pvs`` lists them, to be served beside it."""

    def __init__(self, pv: PV, description: str = ""):
        self.pv = pv
        self.fields: dict[str, PV] = {}
        self._add("NAME", "string", pv.name, writable=False)
        self._add("DESC", "string", description, on_put=_store)
        self._add("RTYP", "string", pv.record_type, writable=False)
        self._add("EGU", "string", pv.units, on_put=self._put_units)
        self._add("PREC", "short", pv.precision, on_put=self._put_precision)
        for field, limit in LIMIT_FIELDS.items():
            self._add(field, "double", _number(pv.limits[limit]),
                      on_put=self._limit_setter(limit))
        self._add("SEVR", "enum", int(pv.severity), enum_strs=SEVERITY_STATES,
                  writable=False)
        self._add("STAT", "enum", int(pv.status), enum_strs=STATUS_STATES, writable=False)
        pv.observe(self)

    def _add(self, field: str, type_: str, value: Any, *, writable: bool = True,
             on_put: Any = None, **options: Any) -> None:
        self.fields[field] = PV(f"{self.pv.name}.{field}", type_, value,
                                access="rw" if writable else "r", on_put=on_put,
                                record_type=self.pv.record_type, **options)

    @property
    def pvs(self) -> list[PV]:
        return list(self.fields.values())

    def __getitem__(self, field: str) -> PV:
        return self.fields[field]

    # --- the PV changed: follow it ----------------------------------------------------

    def pv_changed(self, pv: PV, mask: int) -> None:
        if mask & _ALARM:
            self.fields["SEVR"].write(int(pv.severity))
            self.fields["STAT"].write(int(pv.status))
        if mask & _PROPERTY:
            self.fields["EGU"].write(pv.units)
            self.fields["PREC"].write(pv.precision)
            for field, limit in LIMIT_FIELDS.items():
                self.fields[field].write(_number(pv.limits[limit]))

    def pv_access_changed(self, pv: PV) -> None:
        """The fields keep their own access rights."""

    # --- a client wrote a field: change the PV ------------------------------------------------

    def _put_units(self, field: PV, value: str, done: Done) -> None:
        self.pv.set_metadata(units=value)
        done()

    def _put_precision(self, field: PV, value: int, done: Done) -> None:
        self.pv.set_metadata(precision=int(value))
        done()

    def _limit_setter(self, limit: str):
        def put(field: PV, value: float, done: Done) -> None:
            metadata: dict[str, Any] = {limit: float(value)}
            self.pv.set_metadata(**metadata)
            done()
        return put


def _store(field: PV, value: Any, done: Done) -> None:
    field.write(value)
    done()


def _number(limit: float) -> float:
    """A limit as a record field shows it: unset (NaN) alarm limits read as 0."""
    return 0.0 if math.isnan(limit) else float(limit)


__all__ = ["RecordFields", "FIELD_NAMES", "LIMIT_FIELDS", "AlarmSeverity"]
