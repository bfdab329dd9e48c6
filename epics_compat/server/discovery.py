"""The server's UDP side: answering name searches and sending beacons.

A search datagram from a client holds a VERSION and SEARCH requests; the answer is one
datagram (or a few, if many names are found) holding a VERSION and a SEARCH response
per name served here. A search sent with DO_REPLY for a name not served here gets a
NOT_FOUND. Beacons (RSRV_IS_UP) go to the beacon address, at first quickly (20 ms,
doubling) and then every beacon period, as rsrv sends them after it starts.

Two address computations follow rsrv's: :func:`beacon_destinations` (where beacons go,
from the EPICS_CAS_* environment) and :func:`broadcast_listen_address` (the second UDP
bind that a server on one interface needs to hear broadcast searches).
"""
from __future__ import annotations

import logging
import os
import selectors
import socket
import time
from collections import deque
from typing import TYPE_CHECKING, Mapping

from caproto_core import (DEFAULT_REPEATER_PORT, MAX_DATAGRAM_SIZE, SERVER, Broadcaster,
                          Message, NotFoundResponse, ProtocolError, RsrvIsUpResponse, SearchReply,
                          SearchRequest, SearchResponse, VersionResponse)

from .. import _netif
from .._config import parse_addresses

if TYPE_CHECKING:
    from .._event_loop import Timer
    from .server import Server

logger = logging.getLogger("epics_compat.server")

#: First gap between beacons after a start; it doubles up to the beacon period.
FIRST_BEACON_GAP = 0.02
#: How many recent searches ``Discovery.searches`` remembers.
SEARCH_LOG_SIZE = 1000
_MESSAGE_SIZE = 24  # a SEARCH or NOT_FOUND response with its payload

def beacon_destinations(host: str = _netif.ANY,
                        env: Mapping[str, str] | None = None) -> list[tuple[str, int]]:
    """Where a server on ``host`` sends beacons, as rsrv computes it: with
    EPICS_CAS_AUTO_BEACON_ADDR_LIST (default YES) the broadcast address of the interface
    served (of every interface up, loopback excepted, when ``host`` is 0.0.0.0), then
    EPICS_CAS_BEACON_ADDR_LIST; on EPICS_CAS_BEACON_PORT, else EPICS_CA_REPEATER_PORT.
    Each address once. Where the interfaces cannot be listed (see ``_netif``), the
    automatic part is the limited broadcast."""
    env = os.environ if env is None else env
    port_text = env.get("EPICS_CAS_BEACON_PORT") or env.get("EPICS_CA_REPEATER_PORT")
    port = int(port_text) if port_text and port_text.strip().isdigit() \
        else DEFAULT_REPEATER_PORT
    destinations: list[tuple[str, int]] = []
    if env.get("EPICS_CAS_AUTO_BEACON_ADDR_LIST", "").strip().upper() not in ("NO", "N"):
        found = _netif.interfaces()
        automatic = [_netif.LIMITED_BROADCAST] if found is None \
            else _netif.broadcast_addresses(found, host)
        destinations = [(ip, port) for ip in automatic]
    for address in parse_addresses(env.get("EPICS_CAS_BEACON_ADDR_LIST", ""), port):
        if address not in destinations:
            destinations.append(address)
    return destinations


def interface_from_environment(env: Mapping[str, str] | None = None,
                               default: str = _netif.LOOPBACK) -> str:
    """The interface to serve on from EPICS_CAS_INTF_ADDR_LIST (``default`` when unset).

    This server binds one interface (or 0.0.0.0, all of them); rsrv binds each listed."""
    env = os.environ if env is None else env
    listed = env.get("EPICS_CAS_INTF_ADDR_LIST", "").split()
    if len(listed) > 1:
        raise ValueError(f"EPICS_CAS_INTF_ADDR_LIST={' '.join(listed)!r}: this server "
                         "serves one interface (or 0.0.0.0 for all)")
    return listed[0] if listed else default


def broadcast_listen_address(host: str) -> str | None:
    """The broadcast address a server bound to ``host`` must also listen on, or None.

    Linux and the BSDs hand a broadcast datagram only to sockets bound to the wildcard
    address or to that broadcast address, not to one bound to the interface's own
    address; rsrv binds a second UDP socket for this, and so does ``Discovery``."""
    if host in ("", _netif.ANY, _netif.LOOPBACK):
        return None
    found = _netif.interfaces() or []
    interface = next((i for i in found if i.address == host), None)
    return interface.broadcast if interface is not None else None


class Discovery:
    """Searches and beacons on the server's UDP socket."""

    def __init__(self, server: Server, sock: socket.socket):
        self.server = server
        self.sock = sock
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)  # beacons to subnets
        self._broadcast_sock = self._listen_for_broadcasts(sock.getsockname())
        self.broadcaster = Broadcaster(SERVER)
        self.beacon_id = 0
        #: (time.monotonic(), name, client address) of recent searches, answered or not.
        self.searches: deque[tuple[float, str, tuple[str, int]]] = deque(
            maxlen=SEARCH_LOG_SIZE)
        self._beacon_gap = FIRST_BEACON_GAP
        self._beacon_timer: Timer | None = None

    # --- searches ---------------------------------------------------------------------

    def _listen_for_broadcasts(self, bound: tuple[str, int]) -> socket.socket | None:
        """A second UDP socket on the broadcast address of the interface served (if one
        interface); its searches are answered through the main socket."""
        address = broadcast_listen_address(bound[0])
        if address is None:
            return None
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, bound[1]))
        except OSError as exc:
            sock.close()
            logger.warning("cannot listen on %s:%d: broadcast searches will not be heard "
                           "(%s)", address, bound[1], exc)
            return None
        sock.setblocking(False)
        self.server.loop.register(sock, selectors.EVENT_READ,
                                  lambda mask: self._receive(sock))
        return sock

    def on_ready(self, mask: int) -> None:
        self._receive(self.sock)

    def _receive(self, sock: socket.socket) -> None:
        while True:
            try:
                data, address = sock.recvfrom(65536)
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
        replies: list[Message] = []
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
        for sock in (self.sock, self._broadcast_sock):
            if sock is not None:
                self.server.loop.unregister(sock)
                sock.close()
