"""``PV``: one process variable as the server holds it, with a record's behaviour.

A PV has a native type and a maximum element count, a value, the metadata of the DBR
families (units, precision, limits, enum states, alarm, timestamp) and access rights.
It turns itself into any DBR type a client reads (see ``convert``) and takes writes from
clients through ``put`` (which subclasses and ``on_put`` hooks can make slow, like a motor
move). Every change tells the PV's observers (the server that serves it, record fields
that mirror it) which monitor events it makes; a PV knows nothing of servers.

``lock`` guards the PV's own state only and is never held while observers or hooks run,
so a PV can be written from any thread and a slow hook holds up nobody else.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Callable, Protocol, Sequence

from caproto_core import (EPICS_EPOCH_OFFSET, MAX_ENUM_STATES, MAX_ENUM_STRING_SIZE,
                          MAX_UNITS_SIZE, AccessRights, AlarmSeverity, AlarmStatus,
                          ChannelType, EcaStatus, SubscriptionType, dbr_type, epics_timestamp)

from . import convert
from .convert import CHAR, DOUBLE, ENUM, FLOAT, INTEGER, STRING, ConversionError

logger = logging.getLogger("epics_compat.server")

DBE_VALUE, DBE_LOG, DBE_ALARM, DBE_PROPERTY = (SubscriptionType.DBE_VALUE,
                                               SubscriptionType.DBE_LOG,
                                               SubscriptionType.DBE_ALARM,
                                               SubscriptionType.DBE_PROPERTY)

#: Type names accepted by ``PV(type=...)``, as in EPICS databases and pyepics.
TYPE_NAMES = {
    "string": STRING, "str": STRING, "short": ChannelType.INT, "int": ChannelType.INT,
    "float": FLOAT, "enum": ENUM, "char": CHAR, "byte": CHAR, "long": ChannelType.LONG,
    "double": DOUBLE,
}
#: The eight limits of the GR/CTRL structures, by their names in caproto_core metadata.
LIMIT_NAMES = ("upper_disp_limit", "lower_disp_limit", "upper_alarm_limit",
               "upper_warning_limit", "lower_warning_limit", "lower_alarm_limit",
               "upper_ctrl_limit", "lower_ctrl_limit")
_ALARM_LIMITS = ("upper_alarm_limit", "upper_warning_limit", "lower_warning_limit",
                 "lower_alarm_limit")
#: The record type a CLASS_NAME read reports when none is given.
_DEFAULT_RECORD_TYPES = {STRING: "stringout", ChannelType.INT: "longout", FLOAT: "ao",
                         ENUM: "mbbo", CHAR: "waveform", ChannelType.LONG: "longout",
                         DOUBLE: "ao"}
_ACCESS_NAMES = {"": AccessRights.NO_ACCESS, "r": AccessRights.READ,
                 "w": AccessRights.WRITE, "rw": AccessRights.READ_WRITE}

#: ``done(status)`` completes a client's write (WRITE_NOTIFY answers with ``status``).
Done = Callable[..., None]
#: ``on_put(pv, value, done)``: replaces the default write; must call ``done`` once.
PutHook = Callable[["PV", Any, Done], None]


class PVObserver(Protocol):
    """What a PV tells those who watch it (``PV.observe``)."""

    def pv_changed(self, pv: "PV", mask: int) -> None:
        """``pv`` changed: post monitor events ``mask`` (DBE_VALUE, DBE_ALARM, ...)."""

    def pv_access_changed(self, pv: "PV") -> None:
        """``pv``'s access rights changed."""


def native_type_of(type_: str | int) -> ChannelType:
    """The native ChannelType of a type name ('double', 'enum', ...) or type id."""
    if isinstance(type_, str):
        try:
            return TYPE_NAMES[type_.lower()]
        except KeyError:
            raise ValueError(f"unknown PV type {type_!r}; use one of "
                             f"{sorted(TYPE_NAMES)}") from None
    native = ChannelType(type_)
    if native not in convert.NUMERIC + (STRING,):
        raise ValueError(f"{native.name} is not a native DBR type (0..6)")
    return native


def access_rights_of(access: str | int) -> AccessRights:
    """AccessRights from 'rw', 'r', 'w', '' or a number."""
    if isinstance(access, str):
        try:
            return _ACCESS_NAMES[access]
        except KeyError:
            raise ValueError(f"access must be one of {sorted(_ACCESS_NAMES)}, "
                             f"not {access!r}") from None
    return AccessRights(access)


class PV:
    """A served process variable.

    ``PV('ai', 'double', 3.25, units='mm', precision=4, upper_disp_limit=100, ...)``.
    ``count`` is the maximum number of elements (defaults to the length of ``value``);
    a waveform holds fewer until written. Alarm and warning limits default to NaN and
    the others to 0, as rsrv reports them for a record that sets none.
    ``alarm_on_limits`` sets HIHI/HIGH/LOW/LOLO alarms from those limits on each write.
    ``put_delay`` delays the completion of client writes (a record that processes slowly).
    ``on_put(pv, value, done)`` replaces the default write; it runs on the server thread,
    so it must be quick (group write handlers run elsewhere, see ``group``).
    """

    def __init__(self, name: str, type: str | int = "double", value: Any = None, *,
                 count: int | None = None, units: str = "", precision: int = 0,
                 enum_strs: Sequence[str] = (), status: int = AlarmStatus.NO_ALARM,
                 severity: int = AlarmSeverity.NO_ALARM, timestamp: float | None = None,
                 access: str | int = "rw", record_type: str | None = None,
                 aliases: Sequence[str] = (), alarm_on_limits: bool = False,
                 on_put: PutHook | None = None, put_delay: float = 0.0, **limits: float):
        unknown = set(limits) - set(LIMIT_NAMES)
        if unknown:
            raise TypeError(f"PV {name!r}: unknown keyword(s) {sorted(unknown)}; "
                            f"limits are {LIMIT_NAMES}")
        self.name = name
        self.native = native_type_of(type)
        self.aliases = tuple(aliases)
        self.units = units
        self.precision = precision
        self.enum_strs = tuple(enum_strs)
        self.limits = {name_: (math.nan if name_ in _ALARM_LIMITS else 0.0)
                       for name_ in LIMIT_NAMES}
        self.limits.update(limits)
        self.status = AlarmStatus(status)
        self.severity = AlarmSeverity(severity)
        self.timestamp = time.time() if timestamp is None else timestamp
        self.access = access_rights_of(access)
        self.record_type = record_type or _DEFAULT_RECORD_TYPES[self.native]
        self.alarm_on_limits = alarm_on_limits
        self.on_put = on_put
        self.put_delay = put_delay
        self.lock = threading.RLock()
        self._observers: tuple[PVObserver, ...] = ()
        #: Counts the changes of state: the server sends no subscription one state twice.
        self.version = 0
        values = self._normalize(value if value is not None else
                                 convert.zeros(self.native, count or 1))
        self.count = count if count is not None else max(1, len(values))
        if len(values) > self.count:
            raise ValueError(f"PV {name!r}: {len(values)} values given for count "
                             f"{self.count}")
        self._values = values

    def __repr__(self) -> str:
        return (f"<PV {self.name!r} {self.native.name} count={self.count} "
                f"value={self.value!r}>")

    # --- values ---------------------------------------------------------------------------

    @property
    def value(self) -> Any:
        """The value: a scalar when the PV has one element, else a list or numpy array."""
        with self.lock:
            if self.count == 1:
                return _python(self._values[0]) if len(self._values) else None
            return self._values.copy()

    @property
    def values(self) -> Sequence:
        """The current elements, always as a sequence (a waveform's NORD of them)."""
        return self._values

    def _normalize(self, value: Any) -> Any:
        """A value given in Python as this PV's native elements (list or numpy array)."""
        native = self.native
        if native == STRING:
            items = [value] if isinstance(value, (str, bytes)) else list(value)
            return [item.decode("utf-8", "surrogateescape") if isinstance(item, bytes)
                    else str(item) for item in items]
        if isinstance(value, (bytes, bytearray)) or (native == CHAR and isinstance(value, str)):
            value = list(value.encode("utf-8", "surrogateescape")
                         if isinstance(value, str) else value)
        elif isinstance(value, str) or not hasattr(value, "__len__"):
            value = [value]
        if _is_text(value):
            return self._converted([str(item) for item in value], STRING)
        return convert.cast_numbers(value, native)

    def from_client(self, values: Sequence, native: ChannelType) -> Sequence:
        """Values that arrived as ``native`` converted to this PV's type, at most count.

        Raises ConversionError when they do not convert (text that is no number).
        """
        if len(values) > self.count:
            values = values[:self.count]
        return self._converted(values, native)

    def _converted(self, values: Sequence, native: ChannelType) -> Sequence:
        converted = convert.convert(values, native, self.native, self.enum_strs,
                                    self.precision)
        if self.native == STRING:
            return list(converted)
        return convert.cast_numbers(converted, self.native)

    def write(self, value: Any = None, *, status: int | None = None,
              severity: int | None = None, timestamp: float | None = None) -> None:
        """Set value and/or alarm state, as a record processing would, and post monitors.

        Thread-safe; a scalar PV posts DBE_VALUE|DBE_LOG only when its value changes, a
        waveform on every write, and any alarm change posts DBE_ALARM.
        """
        with self.lock:
            values = None
            if value is not None:
                values = self._normalize(value)
                if len(values) > self.count:
                    raise ValueError(f"PV {self.name!r}: {len(values)} values for count "
                                     f"{self.count}")
            mask = self._update(values, status, severity, timestamp)
        self._notify(mask)

    def _update(self, values: Sequence | None, status: int | None = None,
                severity: int | None = None, timestamp: float | None = None) -> int:
        """Change the state (holding ``lock``); returns the monitor events it makes."""
        mask = 0
        if values is not None:
            if self.count > 1 or not _same(values, self._values):
                mask |= DBE_VALUE | DBE_LOG
            self._values = values
            if self.alarm_on_limits and status is None and severity is None:
                status, severity = self._limit_alarm()
        if status is not None or severity is not None:
            new_status = AlarmStatus(self.status if status is None else status)
            new_severity = AlarmSeverity(self.severity if severity is None else severity)
            if (new_status, new_severity) != (self.status, self.severity):
                mask |= DBE_ALARM
            self.status, self.severity = new_status, new_severity
        self.timestamp = time.time() if timestamp is None else timestamp
        self.version += 1  # last: whoever reads this version finds at least this state
        return mask

    def _limit_alarm(self) -> tuple[AlarmStatus, AlarmSeverity]:
        """Alarm state from the alarm/warning limits, as ai/ao with HHSV=MAJOR, HSV=MINOR."""
        if self.native == STRING or not len(self._values):
            return AlarmStatus.NO_ALARM, AlarmSeverity.NO_ALARM
        value = float(self._values[0])
        limits = self.limits
        checks = ((limits["upper_alarm_limit"], 1, AlarmStatus.HIHI, AlarmSeverity.MAJOR_ALARM),
                  (limits["lower_alarm_limit"], -1, AlarmStatus.LOLO, AlarmSeverity.MAJOR_ALARM),
                  (limits["upper_warning_limit"], 1, AlarmStatus.HIGH,
                   AlarmSeverity.MINOR_ALARM),
                  (limits["lower_warning_limit"], -1, AlarmStatus.LOW,
                   AlarmSeverity.MINOR_ALARM))
        for limit, direction, status, severity in checks:
            if limit == limit and (value - limit) * direction >= 0:
                return status, severity
        return AlarmStatus.NO_ALARM, AlarmSeverity.NO_ALARM

    def set_metadata(self, *, units: str | None = None, precision: int | None = None,
                     enum_strs: Sequence[str] | None = None, **limits: float) -> None:
        """Change units, precision, enum states or limits; posts DBE_PROPERTY."""
        unknown = set(limits) - set(LIMIT_NAMES)
        if unknown:
            raise TypeError(f"unknown limit(s) {sorted(unknown)}")
        with self.lock:
            if units is not None:
                self.units = units
            if precision is not None:
                self.precision = precision
            if enum_strs is not None:
                self.enum_strs = tuple(enum_strs)
            self.limits.update(limits)
            self.version += 1
        self._notify(DBE_PROPERTY)

    def set_access(self, access: str | int) -> None:
        """Change the access rights; connected clients are told at once."""
        with self.lock:
            self.access = access_rights_of(access)
        for observer in self._observers:
            observer.pv_access_changed(self)

    # --- observers --------------------------------------------------------------------------

    def observe(self, observer: PVObserver) -> None:
        """Tell ``observer`` of every change from now on."""
        with self.lock:
            if observer not in self._observers:
                self._observers += (observer,)

    def unobserve(self, observer: PVObserver) -> None:
        with self.lock:
            self._observers = tuple(o for o in self._observers if o is not observer)

    @property
    def observers(self) -> tuple[PVObserver, ...]:
        return self._observers

    def _notify(self, mask: int) -> None:
        """Tell the observers of events ``mask`` (called without holding ``lock``)."""
        if mask:
            for observer in self._observers:
                observer.pv_changed(self, mask)

    # --- client writes ----------------------------------------------------------------------

    def put(self, values: Sequence, done: Done | None = None) -> None:
        """A client's write, already converted to the native type: store, then complete.

        Like a record's processing, it sets the alarm afresh: from the limits with
        ``alarm_on_limits``, else NO_ALARM (so a put clears an initial UDF alarm).
        ``done(status)`` must be called exactly once (it answers a WRITE_NOTIFY); an
        ``on_put`` hook takes over the whole job. Raise ValueError to refuse the write.
        """
        if done is None:
            done = _nobody_waits
        if self.on_put is not None:
            value = (_python(values[0]) if len(values) else None) if self.count == 1 \
                else values
            self.on_put(self, value, done)
            return
        self.store(values)
        if self.put_delay > 0:
            timer = threading.Timer(self.put_delay, done)
            timer.daemon = True
            timer.start()
        else:
            done()

    def store(self, values: Sequence) -> None:
        """Store a client's value (native elements) as a record's processing would."""
        with self.lock:
            if self.alarm_on_limits:
                mask = self._update(values)
            else:
                mask = self._update(values, AlarmStatus.NO_ALARM, AlarmSeverity.NO_ALARM)
        self._notify(mask)

    # --- client reads -----------------------------------------------------------------------

    def read(self, data_type: int, count: int = 0) -> tuple[Sequence, dict | None]:
        """(values, metadata) of this PV as DBR type ``data_type`` with ``count`` elements.

        ``count`` 0 means the current number of elements. Raises ValueError for a type
        that cannot be read (ConversionError when the value cannot be converted).
        """
        layout = dbr_type(data_type)
        if data_type in (ChannelType.PUT_ACKT, ChannelType.PUT_ACKS):
            raise ValueError(f"{layout.type_id.name} can be written but not read")
        if data_type == ChannelType.CLASS_NAME:
            return [self.record_type], None
        target = layout.native
        values = self._values
        if count:
            values = convert.resize(values, self.native, count)
        values = convert.convert(values, self.native, target, self.enum_strs, self.precision)
        return values, self._metadata(layout.family, target, data_type)

    def _metadata(self, family: str, target: ChannelType, data_type: int) -> dict | None:
        if family == "native":
            return None
        metadata: dict[str, Any] = {"status": int(self.status),
                                    "severity": int(self.severity)}
        if data_type == ChannelType.STSACK_STRING:
            metadata.update(ackt=1, acks=0)
        if family == "time":
            seconds, nanoseconds = epics_timestamp(max(self.timestamp, EPICS_EPOCH_OFFSET))
            metadata.update(seconds=seconds, nanoseconds=nanoseconds)
        if family not in ("gr", "ctrl") or target == STRING:
            return metadata
        if target == ENUM:
            # As rsrv: the first 16 states, each cut to the 25 characters that fit.
            metadata["enum_strs"] = tuple(
                _fit(state, MAX_ENUM_STRING_SIZE) for state in
                self.enum_strs[:MAX_ENUM_STATES]) if self.native == ENUM else ()
            return metadata
        metadata["units"] = _fit(self.units, MAX_UNITS_SIZE)
        if target in (FLOAT, DOUBLE):
            metadata["precision"] = self.precision
        names = LIMIT_NAMES if family == "ctrl" else LIMIT_NAMES[:6]
        for name in names:
            limit = self.limits[name]
            if target in INTEGER:
                limit = 0 if limit != limit else convert.number_to_integer(float(limit), target)
            elif target == FLOAT:
                limit = convert.to_float32(float(limit))
            metadata[name] = limit
        return metadata


def _nobody_waits(status: int = EcaStatus.ECA_NORMAL) -> None:
    """The ``done`` of a put nobody waits for."""


def _fit(text: str, size: int) -> str:
    """``text`` cut to what fits a ``size``-byte field with its NUL (whole characters)."""
    raw = text.encode("utf-8", "surrogateescape")
    if len(raw) < size:
        return text
    return raw[:size - 1].decode("utf-8", "ignore")


def _is_text(value: Any) -> bool:
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if kind is not None:
        return kind in "US"
    return any(isinstance(item, str) for item in value)


def _python(item: Any) -> Any:
    """A numpy scalar as the Python number it holds."""
    return item.item() if hasattr(item, "item") else item


def _same(new: Sequence, old: Sequence) -> bool:
    if len(new) != len(old):
        return False
    return all(a == b for a, b in zip(new, old))


__all__ = ["PV", "PVObserver", "Done", "PutHook", "ConversionError", "EcaStatus", "native_type_of",
           "access_rights_of", "LIMIT_NAMES"]
