"""Writing an IOC in Python: a ``Group`` of PVs declared as a class::

    from epics_compat.server import Group, pv, periodic, run

    class Oven(Group):
        temperature = pv(20.0, units="degC", precision=1, read_only=True,
                         high_alarm=90, doc="oven temperature")
        setpoint = pv(20.0, units="degC", drive_high=100, drive_low=0)
        mode = pv("Off", enum_strs=["Off", "Heat", "Cool"])

        @setpoint.on_put
        async def setpoint(self, value):       # validate, transform or refuse a put
            if value > 95:
                raise ValueError("too hot")     # the client's put fails (ECA_PUTFAIL)
            return round(value, 1)              # stored (and posted) instead of value

        @periodic(1.0)
        def drift(self):                        # runs every second while served
            self.temperature.write(self.temperature.value + 0.1)

    run(Oven, default_prefix="oven:")           # the command line: --prefix, --list-pvs, ...

Each ``pv(...)`` becomes a served PV named prefix + attribute name (``name=`` to choose
another), with record-like fields ``.DESC .EGU .PREC .HOPR .LOPR .DRVH .DRVL .HIHI
.HIGH .LOW .LOLO .SEVR .STAT .NAME .RTYP .VAL`` (``fields=False`` serves none). In a
group's methods ``self.setpoint`` is that PV (``server.pv.PV``): ``.value`` reads it,
``.write(value, severity=..., status=...)`` sets value and alarm together and posts
monitors, from any thread. Groups nest with ``subgroup`` (a motor inside a beamline:
``m1 = subgroup(Motor, "m1")`` serves ``<prefix>m1.VAL`` ...).

Write handlers, startup and periodic hooks run on the server's handler thread (an
asyncio loop; plain functions run in its thread pool), never on the thread that answers
clients; puts to one PV are handled in order, a put with completion completes when its
handler returns, and a slow handler holds up only its own PV.
"""
from __future__ import annotations

import concurrent.futures
import functools
import logging
import math
from typing import Any, Callable, Iterator, Sequence

from caproto_core import AlarmSeverity, AlarmStatus, ChannelType, EcaStatus

from .convert import CHAR, STRING
from .fields import RecordFields
from .pv import PV, Done, native_type_of

logger = logging.getLogger("epics_compat.server")

#: Keyword names of ``pv`` for limits, and the metadata limit each sets.
LIMIT_KEYWORDS = {"display_high": "upper_disp_limit", "display_low": "lower_disp_limit",
                  "drive_high": "upper_ctrl_limit", "drive_low": "lower_ctrl_limit",
                  "high_alarm": "upper_alarm_limit", "high_warning": "upper_warning_limit",
                  "low_warning": "lower_warning_limit", "low_alarm": "lower_alarm_limit"}
#: Record types reported by .RTYP (and DBR_CLASS_NAME): output records, or input ones
#: for read-only PVs.
_RECORD_TYPES = {STRING: ("stringout", "stringin"), ChannelType.INT: ("longout", "longin"),
                 ChannelType.FLOAT: ("ao", "ai"), ChannelType.ENUM: ("mbbo", "mbbi"),
                 CHAR: ("waveform", "waveform"), ChannelType.LONG: ("longout", "longin"),
                 ChannelType.DOUBLE: ("ao", "ai")}
#: The length of a long string (a char array) when ``max_length`` is not given.
DEFAULT_LONG_STRING_LENGTH = 256
_STARTUP_MARK = "_epics_compat_startup"
_PERIOD_MARK = "_epics_compat_period"


def _infer_type(value: Any, enum_strs: Sequence[str] | None, long_string: bool) -> str:
    """The native type name a declaration means, from its initial value."""
    if enum_strs is not None:
        return "enum"
    if long_string or isinstance(value, (bytes, bytearray)):
        return "char"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool) or isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "double"
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if kind is not None:
        return {"f": "double", "i": "long", "u": "long", "b": "long", "U": "string",
                "S": "string"}.get(kind, "double")
    if isinstance(value, (list, tuple)) and value:
        return _infer_type(value[0], None, False)
    raise TypeError(f"cannot tell the type of a PV from the value {value!r}; give type=")


class pv:  # noqa: N801 - reads as a declaration in a class body
    """Declare a PV in a ``Group``: ``A = pv(1)``, ``B = pv(2.0, units="mm")``.

    ``value``: the initial value; with no ``type`` it decides the type (int: LONG,
    float: DOUBLE, str: STRING, a list: an array of its elements' type).
    ``type``: 'string', 'short' ('int'), 'float', 'enum', 'char', 'long', 'double'.
    ``max_length``: the maximum element count of an array (default: len(value)).
    ``enum_strs``: the states of an enum (value: an index or a state string).
    ``long_string``: a string longer than 40 characters, served as a char array of
    ``max_length`` bytes (pyepics reads it with ``as_string=True``).
    ``units``, ``precision``; ``display_high/low``, ``drive_high/low`` (puts are
    clamped to them, as an ao record does), ``high_alarm``, ``high_warning``,
    ``low_warning``, ``low_alarm``, with ``alarm_on_limits`` setting the alarm from them.
    ``read_only``: clients may not write. ``doc``: the description (.DESC).
    ``name``: the PV's name after the prefix (default: the attribute's name).
    """

    def __init__(self, value: Any = None, *, type: str | int | None = None,
                 max_length: int | None = None, enum_strs: Sequence[str] | None = None,
                 long_string: bool = False, units: str = "", precision: int = 0,
                 read_only: bool = False, doc: str = "", name: str | None = None,
                 record_type: str | None = None, alarm_on_limits: bool = False,
                 fields: bool = True, **limits: float):
        unknown = set(limits) - set(LIMIT_KEYWORDS)
        if unknown:
            raise TypeError(f"pv(): unknown keyword(s) {sorted(unknown)}; limits are "
                            f"{sorted(LIMIT_KEYWORDS)}")
        if value is None and type is None:
            raise TypeError("pv() needs an initial value or a type")
        self.type = type if type is not None else _infer_type(value, enum_strs, long_string)
        native = native_type_of(self.type)
        if long_string and value is None:
            value = ""
        if long_string and max_length is None:
            max_length = DEFAULT_LONG_STRING_LENGTH
        if enum_strs is not None and native != ChannelType.ENUM:
            raise TypeError(f"enum_strs given for a PV of type {self.type!r}")
        self.value = value
        self.native = native
        self.max_length = max_length
        self.enum_strs = tuple(enum_strs or ())
        self.units = units
        self.precision = precision
        self.read_only = read_only
        self.doc = doc
        self.name = name
        self.record_type = record_type or _RECORD_TYPES[native][read_only]
        self.alarm_on_limits = alarm_on_limits
        self.fields = fields
        self.limits: dict[str, Any] = {LIMIT_KEYWORDS[key]: float(limit)
                                       for key, limit in limits.items()}
        self.attribute = ""
        self.put_handler: Callable | None = None

    def __set_name__(self, owner: type, attribute: str) -> None:
        self.attribute = attribute

    def __repr__(self) -> str:
        return f"<pv {self.attribute or self.name!r} {self.type}>"

    def __get__(self, group: Group | None, owner: type) -> Any:
        if group is None:
            return self
        return group._pvs[self.attribute]

    def on_put(self, handler: Callable) -> pv:
        """Decorate the group method that handles clients' puts to this PV.

        ``handler(self, value)``, a plain function or a coroutine function, gets the
        value a client wrote (a number, a string (an enum's state string) or, for an
        array, a sequence) and returns None to store it as it is, or the value to store
        instead; raising an exception refuses the put (the client's put fails). Returns
        the declaration, so the method may have the PV's name.
        """
        self.put_handler = handler
        return self

    def build(self, prefix: str) -> PV:
        """A new PV for this declaration, named with ``prefix``."""
        value = self.value
        if self.native == ChannelType.ENUM and isinstance(value, str):
            if value not in self.enum_strs:
                raise ValueError(f"{prefix}{self.name or self.attribute}: initial state "
                                 f"{value!r} is not one of {self.enum_strs}")
            value = self.enum_strs.index(value)
        count = self.max_length
        if count is None and self.native == CHAR and isinstance(value, str):
            count = max(1, len(value.encode("utf-8")) + 1)
        return PV(prefix + (self.name or self.attribute), self.type, value, count=count,
                  units=self.units, precision=self.precision, enum_strs=self.enum_strs,
                  access="r" if self.read_only else "rw", record_type=self.record_type,
                  alarm_on_limits=self.alarm_on_limits,
                  severity=AlarmSeverity.NO_ALARM, status=AlarmStatus.NO_ALARM,
                  **self.limits)


class subgroup:  # noqa: N801 - reads as a declaration in a class body
    """Declare a group inside a group: ``m1 = subgroup(Motor, "m1", velocity=2.0)``
    makes ``Motor(<prefix>m1, velocity=2.0)`` (the suffix defaults to the attribute's
    name); in methods ``self.m1`` is that group."""

    def __init__(self, group_class: type, suffix: str | None = None, **options: Any):
        self.group_class = group_class
        self.suffix = suffix
        self.options = options
        self.attribute = ""

    def __set_name__(self, owner: type, attribute: str) -> None:
        self.attribute = attribute

    def __get__(self, group: Group | None, owner: type) -> Any:
        if group is None:
            return self
        return group._children[self.attribute]


def startup(method: Callable) -> Callable:
    """Decorate a group method to run once when the server starts serving the group."""
    setattr(method, _STARTUP_MARK, True)
    return method


def periodic(period: float) -> Callable[[Callable], Callable]:
    """Decorate a group method to run every ``period`` seconds while the group is served."""
    if not period > 0:
        raise ValueError(f"periodic() needs a period > 0 seconds, not {period!r}")

    def mark(method: Callable) -> Callable:
        setattr(method, _PERIOD_MARK, float(period))
        return method
    return mark


class Group:
    """PVs (and groups) declared as a class; ``Group(prefix)`` serves them with
    ``prefix`` before every name. Add it to a ``Server`` or serve it with ``run``.

    Subclasses may also create PVs in ``__init__`` and add them with ``serve(pv)``.
    """

    def __init__(self, prefix: str = ""):
        self.prefix = prefix
        self.server: Any = None  # the Server, while it serves this group
        self._pvs: dict[str, PV] = {}
        self._extra: list[PV] = []
        self._fields: list[RecordFields] = []
        self._children: dict[str, Group] = {}
        self._futures: list[concurrent.futures.Future] = []
        for attribute, declaration in self._declarations(pv):
            built = declaration.build(prefix)
            self._pvs[attribute] = built
            if declaration.fields:
                self._fields.append(RecordFields(built, declaration.doc))
            if declaration.put_handler is not None:
                built.on_put = self._put_hook(declaration.put_handler)
            elif declaration.limits.get("upper_ctrl_limit") is not None or \
                    declaration.limits.get("lower_ctrl_limit") is not None:
                built.on_put = self._put_hook(None)
        for attribute, declaration in self._declarations(subgroup):
            suffix = declaration.suffix if declaration.suffix is not None else attribute
            self._children[attribute] = declaration.group_class(
                prefix + suffix, **declaration.options)

    @classmethod
    def _declarations(cls, kind: type) -> Iterator[tuple[str, Any]]:
        seen: set[str] = set()
        for klass in cls.__mro__:
            for attribute, value in vars(klass).items():
                if isinstance(value, kind) and attribute not in seen:
                    seen.add(attribute)
                    yield attribute, value

    def __repr__(self) -> str:
        return f"<{type(self).__name__} prefix={self.prefix!r} pvs={len(self.pvs)}>"

    def serve(self, pv_: PV) -> PV:
        """Serve ``pv_`` with this group (for PVs made in code); returns it."""
        self._extra.append(pv_)
        return pv_

    @property
    def pvs(self) -> list[PV]:
        """Every PV this group serves: its own, their fields, its subgroups'."""
        pvs = [*self._pvs.values(), *self._extra]
        for fields in self._fields:
            pvs.extend(fields.pvs)
        for child in self._children.values():
            pvs.extend(child.pvs)
        return pvs

    @property
    def pv_names(self) -> list[str]:
        return [served.name for served in self.pvs]

    # --- served by a server ---------------------------------------------------------------

    def attach(self, server: Any) -> None:
        """The server serves this group now: run the startup, then the periodic hooks."""
        self.server = server
        for child in self._children.values():
            child.attach(server)
        hooks = [getattr(self, name) for name, _ in self._methods(_STARTUP_MARK)]
        periods = [(getattr(self, name), period)
                   for name, period in self._methods(_PERIOD_MARK)]
        if not hooks and not periods:
            return
        runner = server.handlers

        async def run_hooks() -> None:
            for hook in hooks:
                await runner.call(hook)
            for method, period in periods:
                what = f"periodic hook {type(self).__name__}.{method.__name__}"
                self._futures.append(runner.spawn(
                    functools.partial(runner.every, period, method, what), what))

        self._futures.append(runner.spawn(run_hooks, f"startup of {self!r}"))

    def detach(self) -> None:
        """The server stopped: periodic hooks stop."""
        for future in self._futures:
            future.cancel()
        self._futures.clear()
        for child in self._children.values():
            child.detach()
        self.server = None

    @classmethod
    def _methods(cls, mark: str) -> Iterator[tuple[str, Any]]:
        seen: set[str] = set()
        for klass in cls.__mro__:
            for name, value in vars(klass).items():
                if name not in seen and hasattr(value, mark):
                    seen.add(name)
                    yield name, getattr(value, mark)

    # --- clients' puts --------------------------------------------------------------------

    def _put_hook(self, handler: Callable | None) -> Callable[[PV, Any, Done], None]:
        """The PV's ``on_put``: hand the put to the handler runner, in order per PV."""
        def on_put(target: PV, value: Any, done: Done) -> None:
            server = self.server
            if server is None or not server.handlers.running:
                done(EcaStatus.ECA_PUTFAIL, f"{target.name} is not being served")
                return
            runner = server.handlers
            job = functools.partial(self._handle_put, runner, handler, target, value, done)
            runner.spawn(functools.partial(runner.serialized, target, job),
                         f"the put handler of {target.name}")
        return on_put

    async def _handle_put(self, runner: Any, handler: Callable | None, target: PV,
                          value: Any, done: Done) -> None:
        try:
            value = _clamped(target, value)
            if target.native == ChannelType.ENUM and isinstance(value, int) and \
                    value < len(target.enum_strs):
                value = target.enum_strs[value]  # handlers see state strings
            if handler is not None:
                result = await runner.call(handler, self, value)
                if result is not None:
                    value = result
            values = target._normalize(value)
            if len(values) > target.count:
                raise ValueError(f"{len(values)} values for at most {target.count}")
            target.store(values)
        except Exception as exc:  # the handler refused, or its value does not fit
            logger.info("put to %s refused: %s", target.name, exc)
            done(EcaStatus.ECA_PUTFAIL, f"{target.name}: {exc}")
            return
        done()


def _clamped(target: PV, value: Any) -> Any:
    """A scalar put clamped to the drive limits, as an ao record does (none if both 0)."""
    high = target.limits["upper_ctrl_limit"]
    low = target.limits["lower_ctrl_limit"]
    if (high == 0 and low == 0) or target.count != 1 or not isinstance(value, (int, float)):
        return value
    if isinstance(value, float) and math.isnan(value):
        return value
    return min(max(value, low), high)


__all__ = ["Group", "pv", "subgroup", "startup", "periodic", "LIMIT_KEYWORDS"]
