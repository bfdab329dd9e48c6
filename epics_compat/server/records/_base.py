"""``SimRecord``: what the simulated records share.

A simulated record is a set of server ``PV`` objects named ``name + delim + field``
(``XX:scaler1.CNT``, or ``XX:cam1:Acquire`` with ``delim=''``), a ``pvs`` list and
``attach``/``detach`` for ``Server.add``. It builds on the server as it is (``PV`` with
an ``on_put(pv, value, done)`` hook, ``Server.call_later`` for timed behaviour), the way
``server/motor.py`` does; everything runs on the server's thread, under its lock.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ..pv import PV, Done

if TYPE_CHECKING:
    from ..server import Server

#: ``on_change(value)``: called after a client's write of a field has been stored.
OnChange = Callable[[Any], None]


class SimRecord:
    """Fields as server PVs; writes are stored, then ``on_change`` runs, then the put
    completes, unless the field has an ``on_put`` of its own (which calls ``done``
    when it is done: a put with completion waits until then)."""

    record_type = "sim"

    def __init__(self, name: str, delim: str = "."):
        self.name = name
        self.delim = delim
        self.fields: dict[str, PV] = {}
        self.server: Server | None = None
        self._timers: set = set()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    def __getitem__(self, field: str) -> PV:
        return self.fields[field]

    @property
    def parts(self) -> list[SimRecord]:
        """Records that belong to this one (its MCAs, its file plugin...): served,
        attached and detached with it."""
        return []

    @property
    def pvs(self) -> list[PV]:
        return [*self.fields.values(), *(pv for part in self.parts for pv in part.pvs)]

    def attach(self, server: Server) -> None:
        """Called by ``Server.add``: timed behaviour runs on the server's thread."""
        self.server = server
        for part in self.parts:
            part.attach(server)

    def detach(self) -> None:
        """Called when the server stops: pending timers are dropped."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for part in self.parts:
            part.detach()

    # --- fields -------------------------------------------------------------------------------

    def add(self, field: str, type_: str = "double", value: Any = None, *,
            on_change: OnChange | None = None,
            on_put: Callable[[PV, Any, Done], None] | None = None,
            read_only: bool = False, **options: Any) -> PV:
        """Serve field ``field``; ``options`` go to ``PV`` (count, enum_strs, units...)."""
        if on_put is None:
            on_put = self._refuse if read_only else self._storer(on_change)
        if read_only:
            options.setdefault("access", "r")
        options.setdefault("record_type", self.record_type)
        pv = PV(self.name + self.delim + field, type_, value, on_put=on_put, **options)
        self.fields[field] = pv
        return pv

    def add_many(self, fields: str | list[str], type_: str = "double", value: Any = None,
                 **options: Any) -> None:
        """Serve several fields of one kind (a space-separated string or a list)."""
        for field in fields.split() if isinstance(fields, str) else fields:
            self.add(field, type_, value, **options)

    def add_setting(self, field: str, type_: str = "double", value: Any = None, *,
                    on_change: OnChange | None = None, **options: Any) -> PV:
        """A setting ``field`` with its readback ``field_RBV`` (areaDetector style): a
        write to the setting shows in the readback."""
        readback = self.add(f"{field}_RBV", type_, value, read_only=True, **options)

        def changed(new: Any) -> None:
            readback.write(new)
            if on_change is not None:
                on_change(new)
        return self.add(field, type_, value, on_change=changed, **options)

    @staticmethod
    def _storer(on_change: OnChange | None) -> Callable[[PV, Any, Done], None]:
        def store(pv: PV, value: Any, done: Done) -> None:
            if pv.enum_strs and not 0 <= value < len(pv.enum_strs):
                # A menu field refuses a state it does not have, as a record would.
                raise ValueError(f"{pv.name}: {value} is not one of its "
                                 f"{len(pv.enum_strs)} states")
            pv.write(value)
            if on_change is not None:
                on_change(value)
            done()
        return store

    @staticmethod
    def _refuse(pv: PV, value: Any, done: Done) -> None:
        raise ValueError(f"{pv.name} is read-only")

    def get(self, field: str) -> Any:
        return self.fields[field].value

    def set(self, field: str, value: Any) -> None:
        """Write a field as the record's processing would (monitors are posted)."""
        self.fields[field].write(value)

    # --- time ---------------------------------------------------------------------------------

    def later(self, delay: float, callback: Callable[[], None]):
        """Run ``callback`` on the server thread after ``delay`` s (dropped at detach)."""
        if self.server is None:
            raise RuntimeError(f"{self!r} is not served: nothing runs later")
        def run() -> None:
            self._timers.discard(timer)
            callback()

        timer = self.server.call_later(delay, run)
        self._timers.add(timer)
        return timer

    def local_pv(self, name: str) -> PV | None:
        """A PV of the same server, by name (how links of these records resolve)."""
        return None if self.server is None or not name else self.server.find(name.strip())
