"""Load on a Channel Access server: an IOC of counters, and subscribers that count.

``python tests/load_ioc.py PREFIX COUNT PER_TICK [TICK]`` serves ``COUNT`` counters
(``<prefix>c0`` ...), ``PER_TICK`` of them incremented in turn every ``TICK`` seconds
(default 0.01), with epics_compat.server's runner (environment: EPICS_CAS_*).
``start`` runs it in a process of its own on loopback; ``Subscribers`` are raw client
circuits (caproto_core) subscribed to counters, checking that each update is the next
value. Used by tests/server/test_server_load.py and benchmarks/server_bench.py.
"""
from __future__ import annotations

import os
import selectors
import socket
import subprocess
import sys
import time
from pathlib import Path

from caproto_core import (CLIENT, ClientNameRequest, CreateChanResponse, EventAddResponse,
                          HostNameRequest, VersionRequest, VirtualCircuit)
from epics_compat.server.group import Group, periodic, pv
from epics_compat.server.runner import run

TICK = 0.01


def counters(count: int, per_tick: int, tick: float = TICK) -> type:
    """A Group class with ``count`` counter PVs and a 100 Hz hook that counts them up."""
    declarations = {f"c{index}": pv(0) for index in range(count)}

    def __init__(self, prefix: str = "") -> None:
        Group.__init__(self, prefix)
        self.turn = 0
        self.all = [getattr(self, f"c{index}") for index in range(count)]

    @periodic(tick)
    def count_up(self) -> None:
        for _ in range(per_tick):
            counter = self.all[self.turn]
            counter.write(counter.value + 1)
            self.turn = (self.turn + 1) % count

    return type("Counters", (Group,), {**declarations, "__init__": __init__,
                                        "count_up": count_up})


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
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
        self.subscribed = False
        self.reset()

    def reset(self) -> None:
        """Count from now on."""
        self.updates = 0
        self.lost = 0  # values skipped
        self.repeated = 0  # a value sent twice
        self.backwards = 0  # an older value after a newer one

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
                self._count(message.subscriptionid, int(message.data[0]))
        if created and not self.subscribed and all(c.sid is not None for c in self.channels):
            self.subscribed = True
            self.send(*(channel.subscribe() for channel in self.channels))

    def _count(self, subscription: int, value: int) -> None:
        previous = self.last.get(subscription)
        if previous is not None:
            self.updates += 1
            if value > previous + 1:
                self.lost += value - previous - 1
            elif value == previous:
                self.repeated += 1
            elif value < previous:
                self.backwards += 1
        self.last[subscription] = value


def start(prefix: str, count: int, per_tick: int, tick: float = TICK
          ) -> tuple[subprocess.Popen, int]:
    """This IOC in a process of its own on 127.0.0.1 and a free port, once it listens."""
    from ioc import find_free_port
    port = find_free_port()
    env = {**os.environ, "EPICS_CAS_SERVER_PORT": str(port),
           "EPICS_CAS_INTF_ADDR_LIST": "127.0.0.1", "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
           "EPICS_CAS_BEACON_ADDR_LIST": f"127.0.0.1:{port + 1}"}
    process = subprocess.Popen([sys.executable, __file__, prefix, str(count),
                                str(per_tick), str(tick)], env=env)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, port
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise RuntimeError("the counters IOC did not come up") from None
            time.sleep(0.05)


class Subscribers:
    """``n`` Subscribers to ``names`` on ``port``, read by one selector in this thread."""

    def __init__(self, port: int, names: list[str], n: int):
        self.names = names
        self.clients = [Subscriber(port, names) for _ in range(n)]
        self.selector = selectors.DefaultSelector()
        for client in self.clients:
            self.selector.register(client.sock, selectors.EVENT_READ, client)

    def _read(self, timeout: float) -> None:
        for key, _ in self.selector.select(timeout):
            key.data.on_readable()

    def wait_for_first_values(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not all(len(client.last) == len(self.names) for client in self.clients):
            if time.monotonic() > deadline:
                raise AssertionError("subscriptions did not all start")
            self._read(1.0)

    def count(self, seconds: float, server_pid: int) -> dict:
        """Read for ``seconds``: updates, lost, repeated and out-of-order values in all,
        the time taken, and the server's CPU (% of one core) meanwhile."""
        for client in self.clients:
            client.reset()
        cpu, started = cpu_seconds(server_pid), time.monotonic()
        while time.monotonic() - started < seconds:
            self._read(0.1)
        elapsed = time.monotonic() - started
        totals = {kind: sum(getattr(client, kind) for client in self.clients)
                  for kind in ("updates", "lost", "repeated", "backwards")}
        return {**totals, "elapsed": elapsed,
                "cpu": 100 * (cpu_seconds(server_pid) - cpu) / elapsed}

    def close(self) -> None:
        for client in self.clients:
            client.sock.close()
        self.selector.close()


if __name__ == "__main__":
    prefix, count, per_tick = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    period = float(sys.argv[4]) if len(sys.argv) > 4 else TICK
    run(counters(count, per_tick, period), default_prefix=prefix, argv=[])
