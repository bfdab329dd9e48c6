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

from ioc import find_free_port
from load_ioc import Subscriber, cpu_seconds

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

CLIENTS, PVS, PER_TICK, SECONDS = 50, 200, 4, 4.0


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
            client.reset()
        cpu_before, started = cpu_seconds(server.pid), time.monotonic()
        while time.monotonic() - started < SECONDS:
            for key, _ in selector.select(0.1):
                key.data.on_readable()
        cpu = cpu_seconds(server.pid) - cpu_before
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
