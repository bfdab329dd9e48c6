"""Scripted faults of epics_compat.server, each seen from pyepics (libca).

One pyepics process lives for the whole module (``Driver``). After libca loses a circuit
(or a channel is refused) it searches for the channels again only when its "disconnect
governor" timer fires, every 10 s after the client started: the faults that cut circuits
are applied together, each to a server of its own, and the test waits for that tick.
(Beacon anomalies do not hurry libca for such channels, and libca hears beacons only
through a repeater it registers with 10 s after it starts: the beacon anomaly fault is
checked on the wire, in test_server_protocol.py.)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from ioc import close_pipes
from pyserver import server_package

srv = server_package()
PV = srv.PV
pytestmark = pytest.mark.timeout(60)
P = f"fl{os.getpid()}:"
#: libca's repeater registration starts this long after its context is created.
LIBCA_REPEATER_DELAY = 10.0

DRIVER = r"""
import json, sys, time, traceback
import epics
events = {}

def watch(name, **kw):
    "A PV whose connection, access and value changes are logged in events[name]."
    log = events.setdefault(name, [])
    stamp = lambda: round(time.time(), 3)
    return epics.PV(name, **kw,
        connection_callback=lambda conn, **k: log.append(("conn", stamp(), conn)),
        access_callback=lambda read_access, write_access, **k: log.append(
            ("access", stamp(), read_access, write_access)),
        callback=lambda value, **k: log.append(("value", stamp(), repr(value)[:40])))

def wait_for(predicate, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False

namespace = dict(epics=epics, time=time, events=events, watch=watch, wait_for=wait_for)
results, sys.stdout = sys.stdout, sys.stderr  # what pyepics prints must not mix in
print(json.dumps({"started": time.time()}), file=results, flush=True)
for line in sys.stdin:
    out = namespace["out"] = {}
    try:
        exec(json.loads(line), namespace)
    except Exception:
        out["error"] = traceback.format_exc()
    print(json.dumps(out, default=repr), file=results, flush=True)
"""


class Driver:
    """A pyepics process that runs the snippets it is sent, keeping its libca context."""

    def __init__(self, env: dict[str, str]):
        self.process = subprocess.Popen(
            [sys.executable, "-c", DRIVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, env={**os.environ, **env})
        self.started = json.loads(self.process.stdout.readline())["started"]

    def run(self, code: str) -> dict:
        """Run ``code`` (it fills the dict ``out``) and return ``out``."""
        self.process.stdin.write(json.dumps(code) + "\n")
        self.process.stdin.flush()
        out = json.loads(self.process.stdout.readline())
        assert "error" not in out, out["error"]
        return out

    def close(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        close_pipes(self.process)


#: The faults that cut a circuit, each applied to a server of its own.
CIRCUIT_FAULTS = ("drop", "restart", "bad_command", "truncated")
#: libca's disconnect governor period: lost channels are searched again at its ticks.
GOVERNOR_PERIOD = 10.0


@pytest.fixture(scope="module")
def server():
    names = ("hang", "delay", "refused", "error", "deny", "bad_type", "short_payload")
    with srv.Server([PV(P + name, "double", 1.5) for name in names],
                    beacon_address=None) as running:
        yield running


@pytest.fixture(scope="module")
def circuit_servers():
    """fault -> a server with one PV, P + fault."""
    servers = {fault: srv.Server([PV(P + fault, "double", 1.5)], beacon_address=None)
               for fault in CIRCUIT_FAULTS}
    for server in servers.values():
        server.start()
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="module")
def client(server, circuit_servers):
    ports = [server.port] + [s.port for s in circuit_servers.values()]
    env = dict(server.client_env,
               EPICS_CA_ADDR_LIST=" ".join(f"127.0.0.1:{port}" for port in ports))
    driver = Driver(env)
    yield driver
    driver.close()


@pytest.fixture(autouse=True)
def no_faults_left(server):
    yield
    server.faults.clear()


# --- faults on one circuit ---------------------------------------------------------------------

def test_hang_stops_all_answers_until_resumed(server, client):
    name = P + "hang"
    # Connected, and the subscription's first update in (it comes a round trip later).
    ready = client.run(f"pv = watch({name!r}); out['connected'] = pv.wait_for_connection(5) "
                       f"and wait_for(lambda: any(e[0] == 'value' for e in events[{name!r}]), 5)")
    assert ready["connected"]
    server.faults.hang(True)
    server[name].write(2.5)  # a monitor update that must wait
    out = client.run(f"""
start = time.time()
out['get'] = pv.get(timeout=0.5, use_monitor=False)
out['put'] = pv.put(3.0, wait=True, timeout=0.5)
out['values'] = [e for e in events[{name!r}] if e[0] == 'value']
""")
    assert out["get"] is None and out["put"] == -1  # both timed out
    assert len(out["values"]) == 1  # only the first value: the update is held
    server.faults.hang(False)
    out = client.run(f"""
values = lambda: [e[2] for e in events[{name!r}] if e[0] == 'value']
out['updated'] = wait_for(lambda: values()[-1:] == ['3.0'], 3)  # held 2.5, then the put
out['values'], out['connected'] = values(), pv.connected
""")
    assert out["updated"] and out["connected"], out
    assert out["values"] == ["1.5", "2.5", "3.0"]
    assert server[name].value == 3.0  # the put sent during the hang was served after it


def test_delay_makes_every_answer_late(server, client):
    name = P + "delay"
    client.run(f"pv = watch({name!r}); pv.wait_for_connection(5)")
    server.faults.delay(0.4)
    out = client.run("""
out['short'] = pv.get(timeout=0.15, use_monitor=False)
time.sleep(0.5)  # its late answer comes meanwhile
start = time.time()
out['long'] = pv.get(timeout=3, use_monitor=False)
out['took'] = time.time() - start
""")
    assert out["short"] is None
    assert out["long"] == 1.5 and out["took"] >= 0.35


def test_error_response_fails_reads(server, client):
    name = P + "error"
    client.run(f"pv = watch({name!r}); pv.wait_for_connection(5)")
    server.faults.error_response(name, requests=("read", "write"))
    out = client.run("""
try:
    out['get'] = pv.get(timeout=2, use_monitor=False)
except Exception as exc:
    out['get error'] = str(exc)
pv.put(9.0, wait=True, timeout=2)
""")
    assert "get" not in out and "152" in out["get error"]  # ECA_GETFAIL
    server.faults.error_response(name, on=False)
    assert client.run("out['get'] = pv.get(timeout=2, use_monitor=False)")["get"] == 1.5
    assert server[name].value == 1.5  # the write was refused too


def test_deny_write_takes_write_access_away(server, client):
    name = P + "deny"
    client.run(f"pv = watch({name!r}); pv.wait_for_connection(5)")
    server.faults.deny_write(name)
    out = client.run("""
out['access'] = wait_for(lambda: pv.write_access is False, 3)
try:
    pv.put(2.0, wait=True, timeout=2)
except Exception as exc:
    out['put error'] = str(exc)
out['read'] = pv.read_access
""")
    assert out["access"] and out["read"] and "Write access denied" in out["put error"]
    server.faults.deny_write(name, False)
    out = client.run("""
out['access'] = wait_for(lambda: pv.write_access, 3)
out['put'] = pv.put(2.0, wait=True, timeout=2)
""")
    assert out["access"] and out["put"] == 1 and server[name].value == 2.0


# --- malformed messages that libca can skip -------------------------------------------------

def connection_log(client, name):
    return [e for e in client.run(f"out['log'] = events[{name!r}]")["log"] if e[0] == "conn"]


@pytest.mark.parametrize("kind", ["bad_type", "short_payload"])
def test_malformed_update_is_skipped(server, client, kind):
    """A monitor update libca cannot use (bad DBR type; payload shorter than its count,
    which libca reads past) does not cost the circuit."""
    name = P + kind
    client.run(f"pv = watch({name!r}); pv.wait_for_connection(5); time.sleep(0.1)")
    assert server.faults.send_malformed(kind) >= 1
    time.sleep(0.3)
    assert [c[2] for c in connection_log(client, name)] == [True]
    assert client.run("out['get'] = pv.get(timeout=2, use_monitor=False)")["get"] == 1.5


# --- faults that cut circuits -----------------------------------------------------------------

def test_lost_circuits_and_refused_channel_come_back(server, circuit_servers, client):
    """drop, restart, an undecipherable message and a truncated one all cost the client
    its circuit; it finds the PVs again (a refused channel too, once allowed)."""
    names = {fault: P + fault for fault in CIRCUIT_FAULTS}
    client.run(f"pvs = {{f: watch(n) for f, n in {names!r}.items()}}\n"
               "out['up'] = all(pv.wait_for_connection(5) for pv in pvs.values())")
    refused = P + "refused"
    server.faults.refuse_channel(refused)
    out = client.run(f"refused = watch({refused!r}); out['refused'] = "
                     "refused.wait_for_connection(0.5)")
    assert out["refused"] is False
    restart_port = circuit_servers["restart"].port
    circuit_servers["drop"].faults.drop_circuits()
    circuit_servers["restart"].faults.restart(downtime=0.5, wait=False)
    circuit_servers["bad_command"].faults.send_malformed("bad_command")
    circuit_servers["truncated"].faults.send_malformed("truncated")
    out = client.run("""
out['gone'] = wait_for(lambda: not any(pv.connected for pv in pvs.values()), 3)
out['during restart'] = epics.caget(pvs['restart'].pvname, timeout=0.2)
""")
    assert out["gone"] and out["during restart"] is None
    server.faults.refuse_channel(refused, False)
    out = client.run(f"""
pvs['refused'] = refused
out['back'] = wait_for(lambda: all(pv.connected for pv in pvs.values()),
                       {GOVERNOR_PERIOD + 3})
out['values'] = {{f: pv.get(timeout=2, use_monitor=False) for f, pv in pvs.items()}}
""")
    assert out["back"], "libca did not find the PVs again after its governor period"
    assert set(out["values"].values()) == {1.5}
    for fault in CIRCUIT_FAULTS:
        assert [c[2] for c in connection_log(client, names[fault])] == [True, False, True]
    assert circuit_servers["restart"].port == restart_port
    refused_log = [c[2] for c in connection_log(client, refused)]
    assert refused_log[-1] is True and refused_log.count(True) == 1  # once allowed
