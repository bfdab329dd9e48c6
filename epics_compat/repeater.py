"""A Channel Access repeater: fans server beacons out to every client on this host.

Clients register from their UDP port; beacons arriving on the repeater port are sent on
to each of them. libca starts EPICS base's caRepeater for this; epics_compat starts this
module instead (``python -m epics_compat.repeater``) when no repeater answers. It exits
by itself once no client has been registered for ``--idle-exit`` seconds.
"""
from __future__ import annotations

import argparse
import logging
import os
import socket
import time

import caproto_core as core
from caproto_core import CLIENT, SERVER, ProtocolError

logger = logging.getLogger("epics_compat.repeater")


class Repeater:
    def __init__(self, port: int, host: str = ""):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))  # raises OSError if a repeater already runs
        self.clients: set[tuple[str, int]] = set()

    def serve(self, idle_exit: float) -> None:
        """Run until no client has been registered for ``idle_exit`` seconds."""
        last_client = last_prune = time.monotonic()
        self.sock.settimeout(1.0)
        while True:
            if time.monotonic() - last_prune > 5.0:
                self.prune()
                last_prune = time.monotonic()
            if self.clients:
                last_client = time.monotonic()
            elif time.monotonic() - last_client > idle_exit:
                return
            try:
                data, sender = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            self.handle(data, sender)

    def handle(self, data: bytes, sender: tuple[str, int]) -> None:
        try:
            messages = core.read_datagram(data, CLIENT)
        except ProtocolError:
            messages = None
        if messages and isinstance(messages[0], core.RepeaterRegisterRequest):
            self.clients.add(sender)
            self._send(bytes(core.RepeaterConfirmResponse(sender[0])), sender)
            return
        try:
            beacons = core.read_datagram(data, SERVER)
        except ProtocolError:
            logger.debug("ignoring a datagram from %s:%d", *sender)
            return
        out = []
        for message in beacons:
            if isinstance(message, core.RsrvIsUpResponse) and message.parameter2 == 0:
                # The server left its address out: it is the sender's.
                message = core.RsrvIsUpResponse(message.version, message.server_port,
                                                message.beacon_id, sender[0])
            out.append(bytes(message))
        for client in list(self.clients):
            self._send(b"".join(out), client)

    def prune(self) -> None:
        """Forget clients whose port is free again: their process has gone."""
        for client in list(self.clients):
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                probe.bind(client)
            except OSError:
                continue  # still bound: the client lives
            finally:
                probe.close()
            self.clients.discard(client)

    def _send(self, data: bytes, client: tuple[str, int]) -> None:
        try:
            self.sock.sendto(data, client)
        except OSError:
            self.clients.discard(client)  # the client is gone


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int,
                        default=int(os.environ.get("EPICS_CA_REPEATER_PORT",
                                                   core.DEFAULT_REPEATER_PORT)))
    parser.add_argument("--idle-exit", type=float, default=60.0,
                        help="exit after this many seconds without clients")
    args = parser.parse_args(argv)
    try:
        repeater = Repeater(args.port)
    except OSError as exc:
        raise SystemExit(f"cannot bind the repeater port {args.port}: {exc}")
    repeater.serve(args.idle_exit)


if __name__ == "__main__":
    main()
