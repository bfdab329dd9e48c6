"""``Faults``: make a running server misbehave on purpose, for reliability tests.

A fault injector is the server's ``hooks`` (see ``hooks.ServerHooks``); ``server.faults``
installs one the first time a test asks for it, so a server nobody tests serves normally.

Every method acts at once, from any thread, and can be undone (``clear()`` undoes all):

- ``drop_circuits()``: close every client's TCP circuit (the server stays up);
- ``hang(True)``: stop answering anything (searches, requests, monitors); ``hang(False)``
  answers what queued up meanwhile;
- ``delay(seconds)``: send every answer (and search reply) that much later, in order;
- ``restart(downtime)``: go away and come back on the same port, beacons counting anew;
- ``refuse_channel(name)``: answer channel creation with CREATE_CH_FAIL;
- ``error_response(name)``: answer reads, writes and subscriptions with an ERROR;
- ``deny_write(name)``: take write access away from connected and new channels;
- ``send_malformed(kind)``: send a message the client cannot parse (see MALFORMED_KINDS);
- ``beacon_anomaly(kind)``: send a beacon like a restarted server's, or with a jump in id.
"""
from __future__ import annotations

import logging
import struct
from typing import TYPE_CHECKING, Iterable

from caproto_core import EcaStatus, EventAddResponse, ReadNotifyResponse

from .hooks import ServerHooks

if TYPE_CHECKING:
    from .pv import PV
    from .server import Server

logger = logging.getLogger("epics_compat.server")

_HEADER = struct.Struct(">HHHHII")
#: What ``send_malformed`` can send:
MALFORMED_KINDS = {
    "bad_command": "a well-framed message with a command code no CA version has",
    "bad_type": "a monitor update (or, without subscriptions, a read reply) whose DBR "
                "type does not exist",
    "short_payload": "a monitor update announcing more elements than its payload holds",
    "truncated": "the first half of a message, then the circuit is closed",
}
_REQUEST_KINDS = ("read", "write", "subscribe")


class Faults(ServerHooks):
    """The scripted faults of one server; see the module docstring."""

    def __init__(self, server: Server):
        self._server = server
        self.paused = False
        self.reply_delay = 0.0
        self.refused: set[str] = set()
        self.errors: dict[str, dict[str, int | None]] = {}
        self.write_denied: set[str] = set()

    def __repr__(self) -> str:
        active = {name: value for name, value in (
            ("hung", self.paused), ("response_delay", self.reply_delay),
            ("refused", self.refused), ("errors", self.errors),
            ("write_denied", self.write_denied)) if value}
        return f"<Faults {active or 'none'}>"

    # --- circuits and timing --------------------------------------------------------------

    def drop_circuits(self) -> int:
        """Close every client circuit now; returns how many were closed."""
        def drop() -> int:
            connections = list(self._server.connections)
            for connection in connections:
                connection.close("dropped by a fault")
            return len(connections)
        return self._server.run_in_loop(drop)

    def hang(self, on: bool = True) -> None:
        """Stop (or resume) answering: searches, requests, accepting, monitors, all of it.

        Beacons go on, as from an IOC whose CA server tasks are stuck.
        """
        def apply() -> None:
            self.paused = on
            self._server.refresh_io()
        self._server.run_in_loop(apply)
        logger.info("fault: %s", "hung" if on else "answering again")

    def delay(self, seconds: float) -> None:
        """Send every answer ``seconds`` late (0 to stop); order is kept."""
        with self._server.lock:
            self.reply_delay = max(0.0, float(seconds))

    def restart(self, downtime: float = 0.5, wait: bool = True) -> None:
        """Close everything, wait ``downtime`` s, serve again on the same port."""
        logger.info("fault: restart with %.3g s downtime", downtime)
        self._server.restart(downtime, wait)

    # --- channels ---------------------------------------------------------------------------

    def refuse_channel(self, name: str, refuse: bool = True) -> None:
        """Answer channel creation for ``name`` with CREATE_CH_FAIL (searches still find it)."""
        with self._server.lock:
            (self.refused.add if refuse else self.refused.discard)(name)

    def error_response(self, name: str, status: int | None = None,
                       requests: Iterable[str] = _REQUEST_KINDS, on: bool = True) -> None:
        """Answer ``requests`` ('read', 'write', 'subscribe') for ``name`` with an ERROR.

        ``status`` is the ECA code sent; by default ECA_GETFAIL, ECA_PUTFAIL, ECA_ADDFAIL.
        """
        requests = tuple(requests)
        unknown = set(requests) - set(_REQUEST_KINDS)
        if unknown:
            raise ValueError(f"unknown request kind(s) {sorted(unknown)}; use {_REQUEST_KINDS}")
        with self._server.lock:
            if on:
                self.errors[name] = {kind: status for kind in requests}
            else:
                self.errors.pop(name, None)

    def deny_write(self, name: str, deny: bool = True) -> None:
        """Take write access to ``name`` away (or give it back), telling connected clients."""
        with self._server.lock:
            (self.write_denied.add if deny else self.write_denied.discard)(name)
            pv = self._server.find(name)
        if pv is not None:
            self._server.run_in_loop(lambda: self._server.pv_access_changed(pv))

    # --- bad bytes ---------------------------------------------------------------------------

    def send_malformed(self, kind: str = "bad_command") -> int:
        """Send a malformed message of ``kind`` on every circuit; returns how many got one."""
        if kind not in MALFORMED_KINDS:
            raise ValueError(f"unknown kind {kind!r}; use one of {sorted(MALFORMED_KINDS)}")

        def send() -> int:
            connections = list(self._server.connections)
            for connection in connections:
                data, close = _malformed(kind, connection)
                connection.send_raw(data, close=close)
            return len(connections)
        logger.info("fault: sending a malformed message (%s)", kind)
        return self._server.run_in_loop(send)

    def beacon_anomaly(self, kind: str = "restart") -> None:
        """Send a beacon anomaly: 'restart' (ids from 0, fast beacons, as after a server
        restart) or 'jump' (one beacon whose id jumps ahead by 1000)."""
        def send() -> None:
            discovery = self._server.discovery
            if discovery is None:
                return
            if kind == "restart":
                discovery.start_beacons(first_id=0)
            elif kind == "jump":
                discovery.send_beacon(discovery.beacon_id + 1000)
            else:
                raise ValueError(f"unknown beacon anomaly {kind!r}; use 'restart' or 'jump'")
        logger.info("fault: beacon anomaly (%s)", kind)
        self._server.run_in_loop(send)

    def clear(self) -> None:
        """Undo every fault that is still in effect."""
        if self.paused:
            self.hang(False)
        denied = list(self.write_denied)
        with self._server.lock:
            self.reply_delay = 0.0
            self.refused.clear()
            self.errors.clear()
        for name in denied:
            self.deny_write(name, False)

    @property
    def hung(self) -> bool:
        return self.paused

    @property
    def response_delay(self) -> float:
        return self.reply_delay

    # --- the hooks the server calls ---------------------------------------------------------

    def refuses_channel(self, name: str, pv: PV) -> bool:
        return bool(self.refused) and (name in self.refused or pv.name in self.refused)

    def request_status(self, pv: PV, request: str) -> int | None:
        """The ECA status to refuse ``request`` on ``pv`` with, or None to serve it."""
        if not self.errors:
            return None
        for name in (pv.name, *pv.aliases):
            kinds = self.errors.get(name)
            if kinds is not None and request in kinds:
                status = kinds[request]
                return _DEFAULT_STATUS[request] if status is None else status
        return None

    def denies_write(self, pv: PV) -> bool:
        return bool(self.write_denied) and any(
            name in self.write_denied for name in (pv.name, *pv.aliases))


_DEFAULT_STATUS = {"read": EcaStatus.ECA_GETFAIL, "write": EcaStatus.ECA_PUTFAIL,
                   "subscribe": EcaStatus.ECA_ADDFAIL}


def _malformed(kind: str, connection) -> tuple[bytes, bool]:
    """(bytes, close afterwards) of one malformed message for ``connection``."""
    subscription = next(iter(connection.subscriptions.values()), None)
    target = subscription.subscriptionid if subscription is not None else 0
    command = EventAddResponse.ID if subscription is not None else ReadNotifyResponse.ID
    if kind == "bad_command":
        return _HEADER.pack(0x7F7F, 0, 0, 0, 0, 0), False
    if kind == "bad_type":
        return _HEADER.pack(command, 8, 0x7FFF, 1, EcaStatus.ECA_NORMAL, target) + bytes(8), \
            False
    if kind == "short_payload":
        # DBR_DOUBLE, 1000 elements announced, 8 bytes sent.
        return _HEADER.pack(command, 8, 6, 1000, EcaStatus.ECA_NORMAL, target) + bytes(8), \
            False
    # truncated: a header promising 64 bytes, then half of them, then the end.
    return _HEADER.pack(command, 64, 6, 8, EcaStatus.ECA_NORMAL, target) + bytes(32), True
