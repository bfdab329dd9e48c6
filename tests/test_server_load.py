"""Load on one pure-Python IOC: 50 clients x 200 subscriptions, the IOC posting 400
updates a second (4 of its 200 counters every 10 ms), for 4 s. Every client must see
every update of every subscription, in order; the IOC's CPU use is reported (-s).

The clients are raw circuits on caproto_core (as tests/pyserver.py's), 50 in one
process, so that the test measures the server and not 50 client stacks on 2 cores.
"""
from __future__ import annotations

import os
import selectors
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from caproto_core import (CLIENT, ClientNameRequest, CreateChanResponse, EventAddResponse,
                          HostNameRequest, VersionRequest, VirtualCircuit)
from ioc import find_free_port

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

CLIENTS, PVS, PER_TICK, SECONDS = 50, 200, 4, 4.0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Subscriber:
    """One client circuit subscribed to every counter; checks each update is the next."""

    def __init__(self, port: int, names: list[str]):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.circuit = VirtualCircuit(CLIENT, ("127.0.0.1", port))
        self.channels = [self.circuit.new_channel(name) for name in names]
        self.send(VersionRequest(0), HostNameRequest("load"), ClientNameRequest("load"),
                  *(channel.create() for channel in self.channels))
        self.last: dict[int, int] = {}  # subscription id -> last value seen
        self.updates = 0
        self.lost = 0  # values skipped
        self.repeated = 0  # a value sent twice (a subscription's first value, raced)
        self.backwards = 0  # an older value after a newer one
        self.subscribed = False

    def send(self, *messages) -> None:
        self.sock.sendall(b"".join(bytes(b) for b in self.circuit.send(*messages)))

    def on_readable(self) -> None:
        data = self.sock.recv(1 << 20)
        assert data, "the server closed a client's circuit"
        created = 0
        for message in self.circuit.recv(data):
            if isinstance(message, CreateChanResponse):
                created += 1
            elif isinstance(message, EventAddResponse):
                value = int(message.data[0])
                previous = self.last.get(message.subscriptionid)
                if previous is not None:
                    self.updates += 1
                    if value > previous + 1:
                        self.lost += value - previous - 1
                    elif value == previous:
                        self.repeated += 1
                    elif value < previous:
                        self.backwards += 1
                self.last[message.subscriptionid] = value
        if created and not self.subscribed and all(c.sid is not None for c in self.channels):
            self.subscribed = True
            self.send(*(channel.subscribe() for channel in self.channels))


def test_fifty_clients_with_two_hundred_subscriptions_each_lose_nothing():
    port, prefix = find_free_port(), f"load{os.getpid()}:"
    env = {**os.environ, "EPICS_CAS_SERVER_PORT": str(port),
           "EPICS_CAS_INTF_ADDR_LIST": "127.0.0.1", "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
           "EPICS_CAS_BEACON_ADDR_LIST": f"127.0.0.1:{port + 1}"}
    server = subprocess.Popen([sys.executable, str(Path(__file__).parent / "load_ioc.py"),
                               prefix, str(PVS), str(PER_TICK)], env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        names = [f"{prefix}c{index}" for index in range(PVS)]
        clients = [Subscriber(port, names) for _ in range(CLIENTS)]
        selector = selectors.DefaultSelector()
        for client in clients:
            selector.register(client.sock, selectors.EVENT_READ, client)
        settle = time.monotonic() + 30
        while not all(len(c.last) == PVS for c in clients):  # every first value in
            assert time.monotonic() < settle, "subscriptions did not all start"
            for key, _ in selector.select(1.0):
                key.data.on_readable()
        for client in clients:  # count from here, with every subscription running
            client.updates = client.lost = client.repeated = client.backwards = 0
        cpu_before, started = _cpu_seconds(server.pid), time.monotonic()
        while time.monotonic() - started < SECONDS:
            for key, _ in selector.select(0.1):
                key.data.on_readable()
        cpu = _cpu_seconds(server.pid) - cpu_before
        elapsed = time.monotonic() - started
        updates = sum(c.updates for c in clients)
        lost, repeated, backwards = (sum(getattr(c, kind) for c in clients)
                                     for kind in ("lost", "repeated", "backwards"))
        print(f"\n{updates} updates to {CLIENTS} clients in {elapsed:.1f} s "
              f"({updates / elapsed:.0f}/s); server CPU {100 * cpu / elapsed:.0f}%; "
              f"lost {lost}, repeated {repeated}, out of order {backwards}")
        expected = CLIENTS * PER_TICK * SECONDS / 0.01
        # None lost, none out of order. A value sent twice was seen 1-12 times in 80,000
        # updates here (not yet explained, see the issue notes; a repeat loses nothing):
        # at most 1 in 1,000.
        assert lost == 0 and backwards == 0 and repeated <= updates / 1_000
        assert updates > 0.5 * expected, (updates, expected)  # the IOC kept its pace
    finally:
        server.terminate()
        server.wait(10)
