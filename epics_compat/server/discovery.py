"""The server's UDP side: answering name searches and sending beacons.

A search datagram from a client holds a VERSION and SEARCH requests; the answer is one
datagram (or a few, if many names are found) holding a VERSION and a SEARCH response
per name served here. A search sent with DO_REPLY for a name not served here gets a
NOT_FOUND. Beacons (RSRV_IS_UP) go to the beacon address, at first quickly (20 ms,
doubling) and then every beacon period, as rsrv sends them after it starts.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from collections import deque
from typing import TYPE_CHECKING, Mapping

from caproto_core import (DEFAULT_REPEATER_PORT, MAX_DATAGRAM_SIZE, SERVER, Broadcaster, NotFoundResponse,
                          ProtocolError, RsrvIsUpResponse, SearchReply, SearchRequest,
                          SearchResponse, VersionResponse)

if TYPE_CHECKING:
    from .server import Server

logger = logging.getLogger("epics_compat.server")

#: First gap between beacons after a start; it doubles up to the beacon period.
FIRST_BEACON_GAP = 0.02
#: How many recent searches ``Discovery.searches`` remembers.
SEARCH_LOG_SIZE = 1000
_MESSAGE_SIZE = 24  # a SEARCH or NOT_FOUND response with its payload
#: Where beacons go when EPICS_CAS_AUTO_BEACON_ADDR_LIST is YES (the default).
LIMITED_BROADCAST = "255.255.255.255"
#: Every interface, the default of EPICS_CAS_INTF_ADDR_LIST.
ALL_INTERFACES = "0.0.0.0"


# --- where to listen and where beacons go, from the EPICS_CAS_* environment ---------------
# The two functions below are the only places that decide these addresses.

def _setting(env: Mapping[str, str], *names: str) -> str:
    """The first of ``names`` set (non-empty) in ``env``, as rsrv falls back CAS -> CA."""
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return ""


def bind_addresses(env: Mapping[str, str] | None = None) -> list[str]:
    """The interface addresses the server listens on: EPICS_CAS_INTF_ADDR_LIST, or
    every interface when it is empty (as rsrv)."""
    env = os.environ if env is None else env
    return _setting(env, "EPICS_CAS_INTF_ADDR_LIST").split() or [ALL_INTERFACES]


def beacon_destinations(env: Mapping[str, str] | None = None) -> list[tuple[str, int]]:
    """(host, port) pairs that beacons go to, as rsrv computes them.

    EPICS_CAS_BEACON_ADDR_LIST (else EPICS_CA_ADDR_LIST), entries ``host[:port]``; plus,
    when EPICS_CAS_AUTO_BEACON_ADDR_LIST (else EPICS_CA_AUTO_ADDR_LIST) is not NO, the
    broadcast address. The port is EPICS_CAS_BEACON_PORT, else EPICS_CA_REPEATER_PORT,
    else 5065.
    """
    env = os.environ if env is None else env
    port = int(_setting(env, "EPICS_CAS_BEACON_PORT", "EPICS_CA_REPEATER_PORT")
               or DEFAULT_REPEATER_PORT)
    destinations: list[tuple[str, int]] = []
    for entry in _setting(env, "EPICS_CAS_BEACON_ADDR_LIST", "EPICS_CA_ADDR_LIST").split():
        host, _, entry_port = entry.partition(":")
        destinations.append((host, int(entry_port) if entry_port else port))
    auto = _setting(env, "EPICS_CAS_AUTO_BEACON_ADDR_LIST", "EPICS_CA_AUTO_ADDR_LIST")
    if auto.upper() != "NO":
        destinations.append((LIMITED_BROADCAST, port))
    return list(dict.fromkeys(destinations))


class Discovery:
    """Searches and beacons on the server's UDP socket."""

    def __init__(self, server: Server, sock: socket.socket):
        self.server = server
        self.sock = sock
        self.broadcaster = Broadcaster(SERVER)
        self.beacon_id = 0
        #: (time.monotonic(), name, client address) of recent searches, answered or not.
        self.searches: deque[tuple[float, str, tuple[str, int]]] = deque(
            maxlen=SEARCH_LOG_SIZE)
        self._beacon_gap = FIRST_BEACON_GAP
        self._beacon_timer = None

    # --- searches ---------------------------------------------------------------------

    def on_ready(self, mask: int) -> None:
        while True:
            try:
                data, address = self.sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                logger.debug("UDP receive failed: %s", exc)
                return
            if self.server.hooks.paused:
                continue  # a paused server answers nobody
            self._answer(data, address)

    def _answer(self, data: bytes, address: tuple[str, int]) -> None:
        try:
            requests = self.broadcaster.recv(data, address)
        except ProtocolError as exc:
            logger.info("ignoring a malformed datagram from %s: %s", address, exc)
            return
        replies = []
        ip = self.server.reply_ip()
        for request in requests:
            if not isinstance(request, SearchRequest):
                continue
            self.searches.append((time.monotonic(), request.name, address))
            if self.server.find(request.name) is not None:
                replies.append(SearchResponse(self.server.port, ip, request.cid))
            elif request.reply == SearchReply.DO_REPLY:
                replies.append(NotFoundResponse(request.cid, reply=request.reply))
        if not replies:
            return
        per_datagram = (MAX_DATAGRAM_SIZE - 16) // _MESSAGE_SIZE
        for start in range(0, len(replies), per_datagram):
            datagram = self.broadcaster.send(VersionResponse(0),
                                             *replies[start:start + per_datagram])
            self._send_later(datagram, address)

    def _send_later(self, datagram: bytes, address: tuple[str, int]) -> None:
        delay = self.server.hooks.reply_delay
        if delay > 0:
            self.server.loop.call_later(delay, lambda: self._sendto(datagram, address))
        else:
            self._sendto(datagram, address)

    def _sendto(self, datagram: bytes, address: tuple[str, int]) -> None:
        try:
            self.sock.sendto(datagram, address)
        except OSError as exc:
            logger.debug("cannot send a datagram to %s: %s", address, exc)

    # --- beacons ------------------------------------------------------------------------

    def start_beacons(self, first_id: int = 0) -> None:
        """(Re)start beacons as a freshly started server sends them: ids from ``first_id``."""
        self.stop_beacons()
        self.beacon_id = first_id
        self._beacon_gap = FIRST_BEACON_GAP
        if self.server.beacon_addresses:
            self._beacon_tick()

    def stop_beacons(self) -> None:
        if self._beacon_timer is not None:
            self._beacon_timer.cancel()
            self._beacon_timer = None

    def send_beacon(self, beacon_id: int | None = None) -> None:
        """Send one beacon now (with ``beacon_id``, or the next id in sequence)."""
        if beacon_id is not None:
            self.beacon_id = beacon_id
        addresses = self.server.beacon_addresses
        if not addresses:
            return
        host = self.server.host if self.server.host not in ("", "0.0.0.0") else "0.0.0.0"
        beacon = RsrvIsUpResponse(13, self.server.port, self.beacon_id & 0xFFFFFFFF, host)
        datagram = self.broadcaster.send(beacon)
        for address in addresses:
            self._sendto(datagram, address)
        self.beacon_id += 1

    def _beacon_tick(self) -> None:
        self.send_beacon()
        period = self.server.beacon_period
        gap = min(self._beacon_gap, period)
        self._beacon_gap = min(self._beacon_gap * 2, period)
        self._beacon_timer = self.server.loop.call_later(gap, self._beacon_tick)

    def close(self) -> None:
        self.stop_beacons()
        self.server.loop.unregister(self.sock)
        self.sock.close()
