"""A Channel Access repeater: relays server beacons to every client on this host.

Clients (libca, pyepics, epics_compat) register from their UDP port, with a
REPEATER_REGISTER message or, as libca also does, an empty datagram; each gets a
REPEATER_CONFIRM, and from then on every datagram that reaches the repeater port (the
beacons) is sent on to it. libca starts EPICS base's caRepeater for this; an epics_compat
context that finds no repeater starts this module (``python -m epics_compat.repeater``),
which exits by itself once no client has been registered for ``--idle-exit`` seconds.
Tests and the test server use the ``Repeater`` class in a thread.
"""
from __future__ import annotations

import argparse
import logging
import os
import socket
import threading
import time

from caproto_core import (CLIENT, DEFAULT_REPEATER_PORT, SERVER, ProtocolError,
                          RepeaterConfirmResponse, RepeaterRegisterRequest, RsrvIsUpResponse,
                          read_datagram)

logger = logging.getLogger("epics_compat.repeater")

#: Seconds between checks that registered clients are still there.
PRUNE_PERIOD = 5.0


class Repeater:
    """Relays datagrams sent to ``host:port`` to the clients registered there."""

    def __init__(self, port: int = DEFAULT_REPEATER_PORT, host: str = "127.0.0.1"):
        self.host = host
        self.port = port
        self.clients: set[tuple[str, int]] = set()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def __repr__(self) -> str:
        return f"<Repeater {self.host}:{self.port} clients={len(self.clients)}>"

    def bind(self) -> Repeater:
        """Take the port (OSError if another repeater has it)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        sock.settimeout(0.2)
        self._sock = sock
        self.port = sock.getsockname()[1]
        logger.info("repeater on %s:%d", self.host or "*", self.port)
        return self

    def start(self) -> Repeater:
        """Bind the port and relay on a thread of its own until ``stop``."""
        self.bind()
        self._stopping.clear()
        self._thread = threading.Thread(target=self.serve, name="epics_compat.repeater",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Repeater:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def serve(self, idle_exit: float | None = None) -> None:
        """Relay until stopped, or until no client was registered for ``idle_exit`` s."""
        sock = self._sock
        assert sock is not None, "serve() after bind()"
        last_client = last_prune = time.monotonic()
        while not self._stopping.is_set():
            now = time.monotonic()
            if now - last_prune > PRUNE_PERIOD:
                self.prune()
                last_prune = now
            if self.clients:
                last_client = now
            elif idle_exit is not None and now - last_client > idle_exit:
                return
            try:
                data, sender = sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                continue
            self.handle(data, sender)

    def handle(self, data: bytes, sender: tuple[str, int]) -> None:
        if not data or self._is_registration(data):
            if not _is_local(sender[0]):
                # As EPICS base's caRepeater: clients are on this host. Anyone else could
                # register any address (forged) and have every beacon sent on to it.
                logger.warning("ignoring a registration from %s:%d, not on this host",
                               *sender)
                return
            self.clients.add(sender)
            self._send(bytes(RepeaterConfirmResponse(sender[0])), sender)
            logger.debug("client %s:%d registered", *sender)
            return
        data = self._with_server_address(data, sender[0])
        for client in list(self.clients):
            if client != sender:
                self._send(data, client)

    def prune(self) -> None:
        """Forget local clients whose port is free again: their process has gone."""
        for client in list(self.clients):
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                probe.bind(client)
            except OSError:
                continue  # still bound (or not ours to probe): keep it
            finally:
                probe.close()
            self.clients.discard(client)

    @staticmethod
    def _is_registration(data: bytes) -> bool:
        try:
            messages = read_datagram(data, CLIENT)
        except ProtocolError:
            return False
        return any(isinstance(m, RepeaterRegisterRequest) for m in messages)

    @staticmethod
    def _with_server_address(data: bytes, address: str) -> bytes:
        """A beacon that leaves its address out gets the sender's; anything else is
        relayed as it came."""
        try:
            messages = read_datagram(data, SERVER)
        except ProtocolError:
            return data
        beacon = messages[0] if len(messages) == 1 else None
        if type(beacon) is not RsrvIsUpResponse or beacon.address != "0.0.0.0":
            return data
        return bytes(RsrvIsUpResponse(beacon.version, beacon.server_port, beacon.beacon_id,
                                      address))

    def _send(self, data: bytes, client: tuple[str, int]) -> None:
        sock = self._sock
        if sock is None:  # stopped meanwhile
            return
        try:
            sock.sendto(data, client)
        except OSError:  # the client went away
            self.clients.discard(client)


def _is_local(address: str) -> bool:
    """Whether ``address`` is one of this host's (it can be bound here)."""
    if address.startswith("127."):
        return True
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind((address, 0))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int,
                        default=int(os.environ.get("EPICS_CA_REPEATER_PORT",
                                                   DEFAULT_REPEATER_PORT)))
    parser.add_argument("--host", default="", help="address to bind (default: all)")
    parser.add_argument("--idle-exit", type=float, default=60.0,
                        help="exit after this many seconds without clients")
    args = parser.parse_args(argv)
    try:
        repeater = Repeater(args.port, args.host).bind()
    except OSError as exc:
        raise SystemExit(f"cannot bind the repeater port {args.port}: {exc}")
    repeater.serve(args.idle_exit)


if __name__ == "__main__":
    main()
