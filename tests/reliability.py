"""Helpers for the reliability and security tests (test_reliability_*.py, test_security.py).

Each test builds what it needs: pure-Python servers (``epics_compat.server``) with scripted
faults, an in-process repeater for their beacons, and client ``Context`` objects aimed at
exactly those servers with an explicit ``Config``. Nothing depends on the process-wide
pyepics-style context, so a test that breaks a circuit breaks only its own.
"""
from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from typing import Callable, Iterable

import caproto_core as core
from epics_compat._config import Config
from epics_compat._context import Context
from epics_compat.repeater import Repeater
from epics_compat.server import PV, Server
from ioc import find_free_port

DOUBLE = core.ChannelType.DOUBLE
TIME_DOUBLE = core.ChannelType.TIME_DOUBLE
LONG = core.ChannelType.LONG
DBE_VALUE = core.SubscriptionType.DBE_VALUE


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0,
             interval: float = 0.01) -> bool:
    """Poll ``predicate`` until it is true (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


class Lab:
    """Servers, a repeater and client contexts for one test; ``close()`` ends them all."""

    def __init__(self):
        self.repeater = Repeater(find_free_port()).start()
        self.servers: list[Server] = []
        self.contexts: list[Context] = []

    def server(self, pvs: Iterable, port: int = 0, **kwargs) -> Server:
        kwargs.setdefault("beacon_address", ("127.0.0.1", self.repeater.port))
        server = Server(list(pvs), port=port, **kwargs).start()
        self.servers.append(server)
        return server

    def context(self, *servers_or_ports, **changes) -> Context:
        """A context that searches only the given servers (or ports)."""
        ports = [s if isinstance(s, int) else s.port for s in servers_or_ports]
        settings = dict(addr_list=[("127.0.0.1", p) for p in ports], auto_addr_list=False,
                        server_port=ports[0] if ports else 5064,
                        repeater_port=self.repeater.port)
        settings.update(changes)
        context = Context(Config(**settings))
        self.contexts.append(context)
        return context

    def close(self) -> None:
        for context in self.contexts:
            context.destroy()
        for server in self.servers:
            with contextlib.suppress(Exception):
                server.stop()
        self.repeater.stop()


def connect(context: Context, name: str, timeout: float = 5.0):
    channel = context.create_channel(name)
    assert channel.connected.wait(timeout), f"{name} did not connect in {timeout} s"
    return channel


def read(context: Context, channel, data_type: int = DOUBLE, timeout: float = 5.0,
         count: int = 0):
    """The data of a successful read (AssertionError otherwise)."""
    pending = context.read(channel, data_type, count)
    assert pending.wait(timeout), f"no reply to a read of {channel.name} in {timeout} s"
    assert pending.error is None, pending.error
    return pending.result.data


def write(context: Context, channel, value, data_type: int = DOUBLE, timeout: float = 5.0):
    pending = context.write(channel, value, data_type, None, notify=True)
    assert pending.wait(timeout), f"no completion of a write to {channel.name}"
    assert pending.error is None, pending.error


def io_alive(context: Context) -> bool:
    return context.running and context.loop.thread.is_alive() and \
        context.dispatcher._thread.is_alive()


class Recorder:
    """A monitor callback that keeps the first value of every update, in order."""

    def __init__(self):
        self.values: list = []
        self.lock = threading.Lock()

    def __call__(self, message) -> None:
        value = message.data[0]
        with self.lock:
            self.values.append(value.item() if hasattr(value, "item") else value)

    def wait_for(self, predicate: Callable[[list], bool], timeout: float = 5.0) -> bool:
        return wait_for(lambda: predicate(self.values), timeout)


class RawServer:
    """A listening TCP socket that plays a server by hand: for bytes no real server sends.

    It answers UDP searches for ``names`` (every name if None). ``accept()`` returns the
    socket of the client's circuit; ``serve_channel`` answers the client's VERSION and
    CREATE_CHAN for one channel as a server would.
    """

    def __init__(self, names: Iterable[str] | None = None):
        self.names = None if names is None else set(names)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.udp.bind(("127.0.0.1", self.port))
        except OSError:
            self.udp.close()
            self.udp = None
        self.clients: list[socket.socket] = []
        self._stop = threading.Event()
        self._searcher = None
        if self.udp is not None:
            self._searcher = threading.Thread(target=self._answer_searches, daemon=True)
            self._searcher.start()

    def _answer_searches(self) -> None:
        """Answer searches for our names on UDP with 'here'."""
        broadcaster = core.Broadcaster(core.SERVER)
        self.udp.settimeout(0.1)
        while not self._stop.is_set():
            try:
                data, address = self.udp.recvfrom(65536)
            except (socket.timeout, OSError):
                continue
            try:
                requests = broadcaster.recv(data, address)
            except core.ProtocolError:
                continue
            replies = [core.SearchResponse(self.port, "127.0.0.1", r.cid) for r in requests
                       if isinstance(r, core.SearchRequest)
                       and (self.names is None or r.name in self.names)]
            if replies:
                self.udp.sendto(broadcaster.send(core.VersionResponse(13), *replies), address)

    def accept(self, timeout: float = 5.0) -> socket.socket:
        self.listener.settimeout(timeout)
        sock, _ = self.listener.accept()
        sock.settimeout(timeout)
        self.clients.append(sock)
        return sock

    @staticmethod
    def receive_messages(sock: socket.socket, circuit: core.VirtualCircuit,
                         until: Callable[[list], bool], timeout: float = 5.0) -> list:
        got: list = []
        deadline = time.monotonic() + timeout
        while not until(got):
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("the client closed the circuit")
            got.extend(circuit.recv(data))
            if time.monotonic() > deadline:
                raise AssertionError(f"not all expected messages came: {got}")
        return got

    def serve_channel(self, sock: socket.socket, native: int = DOUBLE, count: int = 1,
                      sid: int = 1) -> tuple[core.VirtualCircuit, core.CreateChanRequest]:
        """Answer VERSION and one CREATE_CHAN; (server circuit, the create request)."""
        circuit = core.VirtualCircuit(core.SERVER, sock.getpeername())
        got = self.receive_messages(
            sock, circuit, lambda ms: any(isinstance(m, core.CreateChanRequest) for m in ms))
        create = next(m for m in got if isinstance(m, core.CreateChanRequest))
        channel = circuit.channels[create.cid]
        out = circuit.send(core.VersionResponse(13),
                           *circuit.accept_channel(channel, sid, native, count))
        sock.sendall(b"".join(bytes(b) for b in out))
        return circuit, create

    def close(self) -> None:
        self._stop.set()
        for sock in self.clients:
            with contextlib.suppress(OSError):
                sock.close()
        self.listener.close()
        if self._searcher is not None:
            self._searcher.join(1)
        if self.udp is not None:
            self.udp.close()


def subscribed_counter(lab: Lab, raw: RawServer) -> tuple:
    """A client of ``raw`` whose channel "counter" (one DOUBLE) is connected and has a
    DBE_VALUE subscription with a Recorder as its callback; (context, channel, socket,
    server circuit, recorder, subscriptionid)."""
    context = lab.context(raw.port)
    channel = context.create_channel("counter")
    sock = raw.accept()
    circuit, _ = raw.serve_channel(sock, DOUBLE, 1)
    assert channel.connected.wait(5)
    recorder = Recorder()
    context.subscribe(channel, "native", 0, core.SubscriptionType.DBE_VALUE, recorder)
    got = raw.receive_messages(
        sock, circuit, lambda ms: any(isinstance(m, core.EventAddRequest) for m in ms))
    subscriptionid = next(m for m in got if isinstance(m, core.EventAddRequest)).subscriptionid
    return context, channel, sock, circuit, recorder, subscriptionid


_ONE_DOUBLE = struct.Struct(">HHHHIId")


def one_double(command: int, parameter2: int, value: float) -> bytes:
    """The bytes of a server's reply or update carrying one DOUBLE (parameter2: its ioid
    or subscriptionid), packed by hand: 100,000 of them are quick to make."""
    return _ONE_DOUBLE.pack(command, 8, DOUBLE, 1, 1, parameter2, value)


def double_pvs(prefix: str, count: int, value: float = 0.0) -> list[PV]:
    return [PV(f"{prefix}{i}", "double", value) for i in range(count)]
