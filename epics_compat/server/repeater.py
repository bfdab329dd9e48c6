"""``Repeater``: a CA repeater, so that clients on this host hear beacons.

libca does not listen for beacons itself: it registers with the repeater on the
repeater port (10 s after it starts) and the repeater relays every datagram it gets,
beacons included, to each registered client. Where no ``caRepeater`` runs (a test
machine), ``Repeater`` does that job, on loopback:

    with Repeater(port) as repeater:   # servers send beacons to 127.0.0.1:port
        ...                            # clients use EPICS_CA_REPEATER_PORT=port

A client registers with a REPEATER_REGISTER message, or with an empty datagram (what
libca sends, for the sake of old repeaters); it gets a REPEATER_CONFIRM back.
"""
from __future__ import annotations

import logging
import socket
import threading

from caproto_core import (CLIENT, DEFAULT_REPEATER_PORT, ProtocolError,
                          RepeaterConfirmResponse, RepeaterRegisterRequest, RsrvIsUpResponse,
                          read_datagram)

logger = logging.getLogger("epics_compat.server")


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

    def start(self) -> Repeater:
        """Bind the port (OSError if another repeater has it) and start relaying."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        sock.settimeout(0.2)
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="epics_compat.repeater",
                                        daemon=True)
        self._thread.start()
        logger.info("repeater on %s:%d", self.host, self.port)
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

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                data, sender = self._sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                continue
            self._handle(data, sender)

    def _handle(self, data: bytes, sender: tuple[str, int]) -> None:
        if not data or self._is_registration(data):
            self.clients.add(sender)
            self._send(bytes(RepeaterConfirmResponse(sender[0])), sender)
            logger.debug("repeater: client %s:%d registered", *sender)
            return
        data = self._with_server_address(data, sender[0])
        for client in list(self.clients):
            if client != sender:
                self._send(data, client)

    @staticmethod
    def _is_registration(data: bytes) -> bool:
        try:
            messages = read_datagram(data, CLIENT)
        except ProtocolError:
            return False
        return any(isinstance(m, RepeaterRegisterRequest) for m in messages)

    @staticmethod
    def _with_server_address(data: bytes, address: str) -> bytes:
        """A beacon that says 'my address is the sender's' gets the sender's address."""
        if len(data) == 16 and data[:2] == RsrvIsUpResponse.ID.to_bytes(2, "big") \
                and data[12:16] == bytes(4):
            return data[:12] + socket.inet_aton(address)
        return data

    def _send(self, data: bytes, client: tuple[str, int]) -> None:
        try:
            self._sock.sendto(data, client)
        except OSError:  # the client went away
            self.clients.discard(client)
