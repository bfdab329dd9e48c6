"""Finding servers on every network the host is on, as libca does (issue 19).

On real networks made by the test (``netns.Networks``): namespace ``c`` is a workstation
on two networks, ``a`` and ``b`` hold one server each. With the default environment a
client in ``c`` must find the PVs on both networks, as pyepics (libca) does there, and
beacons from either network must restart its searches. What the client sends is
recorded at ``c``'s interfaces: nothing may go to an address outside the namespaces
(they have no route out, so nothing could reach the host's own networks anyway). The
server side: a server in ``c`` answers and sends beacons on both networks, or on the
interface EPICS_CAS_INTF_ADDR_LIST names only, as rsrv (softIoc) does.

These tests need root (``ip netns``); elsewhere they are skipped, saying so. The unit
tests of ``_netif`` and of the destination list need nothing.
"""
from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import time

import pytest

import netns
from epics_compat import _netif
from epics_compat._config import Config, parse_addresses
from epics_compat._context import Context
from epics_compat.server.discovery import (beacon_destinations, broadcast_listen_address,
                                           interface_from_environment)
from ioc import TEST_DB
import ioc

NET1, NET2 = netns.NETWORK_1, netns.NETWORK_2
BROADCAST_1, BROADCAST_2 = f"{NET1}.255", f"{NET2}.255"

UP, BCAST, LOOP, P2P = _netif.IFF_UP, _netif.IFF_BROADCAST, _netif.IFF_LOOPBACK, \
    _netif.IFF_POINTOPOINT


def interface(name, flags, address, broadcast=None, peer=None, netmask="255.255.255.0"):
    return _netif.Interface(name, flags, address, netmask, broadcast, peer)


LO = interface("lo", UP | LOOP, "127.0.0.1", netmask="255.0.0.0")
ETH0 = interface("eth0", UP | BCAST, "192.168.7.3", "192.168.7.255")
ETH1 = interface("eth1", UP | BCAST, "10.0.4.1", "10.0.4.255")


# --- unit tests: _netif --------------------------------------------------------------------

@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("ip") is None,
                    reason="needs Linux and iproute2's 'ip' command (the oracle)")
def test_the_interfaces_are_those_ip_lists():
    """The oracle is iproute2: `ip -4 -o addr` lists each interface's primary address."""
    listing = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True,
                             text=True, check=True).stdout.splitlines()
    expected = {}
    for line in listing:
        words = line.split()
        name, address = words[1], words[3].split("/")[0]
        broadcast = words[words.index("brd") + 1] if "brd" in words else None
        expected.setdefault(name, (address, broadcast))  # the first is the primary
    found = _netif.interfaces()
    assert {i.name: (i.address, i.broadcast) for i in found} == expected
    assert all(i.up for i in found if i.name == "lo") and any(i.loopback for i in found)


def test_broadcast_addresses_follow_libca():
    down = interface("eth2", BCAST, "10.9.0.1", "10.9.0.255")
    tunnel = interface("tun0", UP | P2P, "10.8.0.6", peer="10.8.0.5")
    no_broadcast = interface("dummy", UP | BCAST, "10.7.0.1", "0.0.0.0")
    neither = interface("odd", UP, "10.6.0.1")
    same_net = interface("eth0:1", UP | BCAST, "192.168.7.4", "192.168.7.255")
    found = [LO, ETH0, down, tunnel, no_broadcast, neither, same_net, ETH1]
    assert _netif.broadcast_addresses(found) == ["192.168.7.255", "10.8.0.5", "10.0.4.255"]
    assert _netif.broadcast_addresses(found, "10.0.4.1") == ["10.0.4.255"]
    assert _netif.broadcast_addresses(found, "10.9.0.1") == []  # down
    assert _netif.broadcast_addresses(found, "127.0.0.1") == ["127.0.0.1"]


def test_automatic_search_addresses_fall_back_to_loopback_and_to_the_limited_broadcast():
    assert _netif.auto_search_addresses([LO, ETH1]) == ["10.0.4.255"]
    assert _netif.auto_search_addresses([LO]) == ["127.0.0.1"]  # libca: no other network
    assert _netif.auto_search_addresses([]) == ["127.0.0.1"]
    assert _netif.auto_search_addresses(None) == ["255.255.255.255"]  # interfaces unknown


def test_elsewhere_than_linux_the_interfaces_are_unknown(monkeypatch):
    monkeypatch.setattr(_netif.sys, "platform", "darwin")
    assert _netif.interfaces() is None
    config = Config(auto_addr_list=True, server_port=5070)
    assert config.search_addresses() == [("255.255.255.255", 5070)]


# --- unit tests: the search destination list ---------------------------------------------

@pytest.fixture
def host_networks(monkeypatch):
    """This 'host' is on 192.168.7.0/24 and 10.0.4.0/24."""
    monkeypatch.setattr(_netif, "interfaces", lambda: [LO, ETH0, ETH1])


def test_automatic_destinations_come_first_on_the_server_port(host_networks):
    env = {"EPICS_CA_SERVER_PORT": "5070", "EPICS_CA_ADDR_LIST": "10.1.1.5 ioc1:5099"}
    assert Config.from_environment(env).search_addresses() == [
        ("192.168.7.255", 5070), ("10.0.4.255", 5070), ("10.1.1.5", 5070), ("ioc1", 5099)]
    env["EPICS_CA_AUTO_ADDR_LIST"] = "NO"
    assert Config.from_environment(env).search_addresses() == [("10.1.1.5", 5070),
                                                               ("ioc1", 5099)]


def test_duplicates_are_searched_once(host_networks):
    env = {"EPICS_CA_ADDR_LIST": "10.0.4.255 10.0.4.255:5064 10.0.4.255:5070 "
                                 "192.168.7.255"}
    assert Config.from_environment(env).search_addresses() == [
        ("192.168.7.255", 5064), ("10.0.4.255", 5064), ("10.0.4.255", 5070)]


def test_bad_entries_are_left_out_with_a_warning(caplog):
    text = "host:0 host:65536 :5064 host:x host:5064 10.0.0.1:65535"
    assert parse_addresses(text, 5064) == [("host", 5064), ("10.0.0.1", 65535)]
    for bad in ("host:0", "host:65536", ":5064", "host:x"):
        assert any(repr(bad) in r.getMessage() for r in caplog.records)


def test_a_host_name_and_its_address_are_one_destination():
    config = Config(addr_list=[("localhost", 7001), ("127.0.0.1", 7001), ("127.0.0.1", 7002),
                               ("no-such-host.invalid", 7001)], auto_addr_list=False)
    context = Context(config)
    try:
        assert repr(context).endswith("searches to 127.0.0.1:7001 127.0.0.1:7002>")
    finally:
        context.destroy()


def test_the_debug_log_says_where_each_search_went(caplog):
    port = ioc.find_free_port()
    context = Context(Config(addr_list=[("127.0.0.1", port), ("localhost", port)],
                             auto_addr_list=False))
    try:
        with caplog.at_level(logging.DEBUG, logger="epics_compat"):
            context.create_channel("nowhere:issue19")
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not any(
                    r.getMessage().startswith("search for") for r in caplog.records):
                time.sleep(0.01)
    finally:
        context.destroy()
    searches = [r.getMessage() for r in caplog.records
                if r.getMessage().startswith("search for")]
    assert searches[0] == f"search for 1 names in 1 datagrams to [('127.0.0.1', {port})]"


def test_server_beacon_destinations_follow_rsrv(host_networks):
    assert beacon_destinations("0.0.0.0", {}) == [("192.168.7.255", 5065),
                                                  ("10.0.4.255", 5065)]
    assert beacon_destinations("10.0.4.1", {"EPICS_CA_REPEATER_PORT": "6000"}) == [
        ("10.0.4.255", 6000)]
    env = {"EPICS_CAS_BEACON_PORT": "6001", "EPICS_CA_REPEATER_PORT": "6000",
           "EPICS_CAS_BEACON_ADDR_LIST": "10.0.4.255 10.5.5.5:7000"}
    assert beacon_destinations("0.0.0.0", env) == [
        ("192.168.7.255", 6001), ("10.0.4.255", 6001), ("10.5.5.5", 7000)]
    env["EPICS_CAS_AUTO_BEACON_ADDR_LIST"] = "NO"
    assert beacon_destinations("0.0.0.0", env) == [("10.0.4.255", 6001),
                                                   ("10.5.5.5", 7000)]
    assert beacon_destinations("127.0.0.1", {}) == [("127.0.0.1", 5065)]


def test_server_bind_addresses(host_networks):
    assert interface_from_environment({}) == "127.0.0.1"
    assert interface_from_environment({"EPICS_CAS_INTF_ADDR_LIST": " 10.0.4.1 "}) \
        == "10.0.4.1"
    with pytest.raises(ValueError, match="one interface"):
        interface_from_environment({"EPICS_CAS_INTF_ADDR_LIST": "10.0.4.1 192.168.7.3"})
    assert broadcast_listen_address("10.0.4.1") == "10.0.4.255"
    assert broadcast_listen_address("0.0.0.0") is None  # hears broadcasts already
    assert broadcast_listen_address("127.0.0.1") is None


# --- on real networks ----------------------------------------------------------------------

needs_namespaces = pytest.mark.skipif(netns.unavailable() is not None,
                                      reason=str(netns.unavailable()))

#: argv: the module to import (epics or epics_compat), the timeout, then PV names.
#: Prints {name: value or null}.
CLIENT = """\
import importlib, json, sys
epics = importlib.import_module(sys.argv[1])
timeout = float(sys.argv[2])
pvs = [epics.PV(name) for name in sys.argv[3:]]
found = {pv.pvname: pv.get(timeout=timeout) if pv.wait_for_connection(timeout) else None
         for pv in pvs}
print(json.dumps(found))
"""

#: Prints the interface and IPv4 destination of every new destination sent to (in the
#: namespace it runs in, on every interface); exits when its stdin closes.
SNIFFER = """\
import os, socket, sys, threading
threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
print("sniffing", flush=True)
seen = set()
while True:
    frame, (interface, protocol, kind, _, _) = sock.recvfrom(65536)
    if kind == socket.PACKET_OUTGOING and protocol == 0x0800:
        destination = socket.inet_ntoa(frame[30:34])
        if destination not in seen:
            seen.add(destination)
            print(interface, destination, flush=True)
"""

#: Prints the sender of each CA beacon heard on the default repeater port; exits when its
#: stdin closes.
BEACON_LISTENER = """\
import os, socket, sys, threading, time
threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
from caproto_core import CLIENT, Broadcaster, ProtocolError, RsrvIsUpResponse
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("", 5065))
print("listening", flush=True)
while True:
    data, sender = sock.recvfrom(65536)
    try:
        messages = Broadcaster(CLIENT).recv(data, sender)
    except ProtocolError:  # e.g. a client registering with the repeater it expects here
        continue
    for message in messages:
        if isinstance(message, RsrvIsUpResponse):
            print("beacon", sender[0], message.server_port, time.monotonic(), flush=True)
"""


@pytest.fixture(scope="module")
def networks():
    netns.remove_stale()
    made = netns.Networks()
    yield made
    made.close()


def start_softioc(namespace: str, prefix: str, **env: str) -> netns.Process:
    process = netns.Process(namespace, [sys.executable, ioc.__file__, str(TEST_DB),
                                        f"P={prefix}"], netns.clean_env(**env))
    try:
        process.wait_for_line("softIoc running", ioc.STARTUP_TIMEOUT)
    except BaseException:
        process.stop()
        raise
    return process


def start_pyserver(namespace: str, name: str, *args: str, **env: str) -> netns.Process:
    process = netns.Process(namespace, [sys.executable, "-m", "epics_compat.server",
                                        "--pv", name, "double", "2.5", "--commands", *args],
                            netns.clean_env(**env))
    try:
        process.wait_for_line("serving on", 30)
    except BaseException:
        process.stop()
        raise
    return process


@pytest.fixture(scope="module")
def iocs(networks):
    """A softIoc on each network: records A:* in namespace a, B:* in namespace b."""
    running = []
    try:
        running.append(start_softioc(networks.a, "A:"))
        running.append(start_softioc(networks.b, "B:"))
        yield running
    finally:
        for process in running:
            process.stop()


def find(namespace: str, module: str, names: list[str], timeout: float = 5.0,
         **env: str) -> dict:
    code_env = netns.clean_env(**env)
    out = netns.run_python(namespace, CLIENT, code_env, module, str(timeout), *names,
                           timeout=60 + 2 * timeout * len(names))
    return json.loads(out.strip().splitlines()[-1])


@needs_namespaces
def test_the_namespaces_have_no_route_out(networks):
    for namespace in (networks.a, networks.b, networks.c):
        routes = networks.routes(namespace)
        assert not [r for r in routes if r.startswith("default")], routes
        assert all(("10.231." in r) or ("127." in r) for r in routes), routes


@needs_namespaces
@pytest.mark.differential
def test_default_environment_finds_pvs_on_both_networks_as_pyepics(networks, iocs):
    """Each client, in its own run, with what it sends recorded at c's interfaces."""
    names = ["A:ao", "B:ao", "A:long", "B:long"]
    found, sent = {}, {}
    for module in ("epics_compat", "epics"):
        sniffer = netns.Process(networks.c, [sys.executable, "-c", SNIFFER],
                                netns.clean_env())
        try:
            sniffer.wait_for_line("sniffing", 10)
            found[module] = find(networks.c, module, names)
        finally:
            lines = sniffer.stop().splitlines()[1:]
        sent[module] = {line.split()[1] for line in lines if line.strip()}
    assert found["epics_compat"] == found["epics"]
    assert all(value is not None for value in found["epics_compat"].values()), found
    for module, destinations in sent.items():
        assert {BROADCAST_1, BROADCAST_2} <= destinations, (module, destinations)
        outside = {d for d in destinations
                   if not d.startswith((f"{NET1}.", f"{NET2}.", "127."))}
        assert not outside, f"{module} sent outside the test's networks: {outside}"


@needs_namespaces
def test_cainfo_lists_the_destinations(networks):
    out = netns.run_python(networks.c, "import sys; from epics_compat.tools.cainfo import "
                           "main; sys.exit(main(['-s', '1']))", netns.clean_env())
    assert out.splitlines()[1:] == ["Search destination list with 2 items",
                                    f"    {BROADCAST_1}:5064", f"    {BROADCAST_2}:5064"]
    assert f"searches to {BROADCAST_1}:5064 {BROADCAST_2}:5064>" in out.splitlines()[0]
    # A host on one network only; the address list adds to it, each destination once.
    env = netns.clean_env(EPICS_CA_ADDR_LIST=f"{BROADCAST_1} {NET2}.2:5070")
    out = netns.run_python(networks.a, "import sys; from epics_compat.tools.cainfo import "
                           "main; sys.exit(main(['-s', '1']))", env)
    assert out.splitlines()[2:] == [f"    {BROADCAST_1}:5064", f"    {NET2}.2:5070"]


@needs_namespaces
@pytest.mark.differential
def test_a_host_without_network_searches_its_loopback_as_pyepics(networks):
    """libca's fallback: no interface but loopback, so searches go to 127.0.0.1."""
    out = netns.run_python(networks.lone, "import sys; from epics_compat.tools.cainfo "
                           "import main; sys.exit(main(['-s', '1']))", netns.clean_env())
    assert out.splitlines()[1:] == ["Search destination list with 1 items",
                                    "    127.0.0.1:5064"]
    server = start_pyserver(networks.lone, "L:x", "--port", "5064")
    try:
        for module in ("epics_compat", "epics"):
            assert find(networks.lone, module, ["L:x"]) == {"L:x": 2.5}, module
    finally:
        server.stop()


@needs_namespaces
@pytest.mark.slow
def test_beacons_from_either_network_restart_searches(networks):
    """Searches back off (0.02 s, doubling): 5.3 s after they start, the next is 5 s
    away. A server that comes up then is found at once only if its first beacons
    restart the searches: first on network 1, then, once the backoff has grown again
    (the restart reset it for the other name too), on network 2."""
    code = (
        "import sys, time\n"
        "import epics_compat as epics\n"
        "def note(pvname=None, conn=None, **kw):\n"
        "    if conn: print('connected', pvname, time.monotonic(), flush=True)\n"
        "print('searching', time.monotonic(), flush=True)\n"
        "pvs = [epics.PV(n, connection_callback=note) for n in ('N1:ao', 'N2:ao')]\n"
        "sys.stdin.read()\n")
    client = netns.Process(networks.c, [sys.executable, "-c", code], netns.clean_env())
    servers = []
    try:
        searching_since = float(client.wait_for_line("searching", 30).split()[1])
        delays = {}
        for namespace, prefix in ((networks.a, "N1:"), (networks.b, "N2:")):
            time.sleep(max(0.0, searching_since + 5.3 - time.monotonic()))
            servers.append(start_softioc(namespace, prefix))
            up = time.monotonic()
            connected = float(client.wait_for_line(f"connected {prefix}ao", 20).split()[2])
            delays[prefix] = connected - up
            searching_since = connected  # the restart came at or before this
        assert all(delay < 2.0 for delay in delays.values()), (delays, client.output)
    finally:
        client.stop()
        for server in servers:
            server.stop()


@pytest.fixture(scope="module")
def beacons(networks):
    """A listener on the repeater port in namespaces a and b, there before any client
    (whose repeater would take the port): ``heard(since)`` gives the senders of the
    beacons each one heard since then, but for a server in its own namespace."""
    listeners = {}
    own = {networks.a: f"{NET1}.2", networks.b: f"{NET2}.2"}
    try:
        for namespace in own:
            listeners[namespace] = netns.Process(
                namespace, [sys.executable, "-c", BEACON_LISTENER], netns.clean_env())
            listeners[namespace].wait_for_line("listening", 20)

        def heard(since: float) -> dict[str, set[str]]:
            return {namespace: {line.split()[1] for line in list(listener.output)
                                if line.startswith("beacon")
                                and float(line.split()[3]) >= since
                                and line.split()[1] != own[namespace]}
                    for namespace, listener in listeners.items()}
        yield heard
    finally:
        for listener in listeners.values():
            listener.stop()


@needs_namespaces
@pytest.mark.differential
def test_a_server_on_two_networks_answers_and_beacons_on_both(networks, beacons):
    """The pure-Python server on 0.0.0.0 in namespace c: clients on either network find
    it (its search replies say 'use the sender's address', as rsrv's), and its beacons
    reach both networks (EPICS_CAS_AUTO_BEACON_ADDR_LIST's default)."""
    since = time.monotonic()
    server = start_pyserver(networks.c, "S:x", "--host", "0.0.0.0", "--port", "5064",
                            "--beacon-address", "auto")
    try:
        for namespace in (networks.a, networks.b):
            for module in ("epics_compat", "epics"):
                assert find(namespace, module, ["S:x"]) == {"S:x": 2.5}, (namespace, module)
    finally:
        server.stop()
    assert beacons(since) == {networks.a: {f"{NET1}.1"}, networks.b: {f"{NET2}.1"}}


@needs_namespaces
@pytest.mark.parametrize("kind", ["softIoc", "epics_compat.server"])
def test_the_interface_list_serves_the_listed_interface_only(networks, beacons, kind):
    """EPICS_CAS_INTF_ADDR_LIST=10.231.1.1 in namespace c: found from network 1 (by
    broadcast, which a socket bound to 10.231.1.1 alone would not hear), not from
    network 2; beacons on network 1 only. rsrv (softIoc) is the reference."""
    env = {"EPICS_CAS_INTF_ADDR_LIST": f"{NET1}.1"}
    since = time.monotonic()
    if kind == "softIoc":
        server = start_softioc(networks.c, "S:", **env)
    else:
        server = start_pyserver(networks.c, "S:ao", "--port", "5064", "--beacon-address",
                                "auto", **env)
    try:
        assert find(networks.a, "epics_compat", ["S:ao"])["S:ao"] is not None
        assert find(networks.a, "epics", ["S:ao"])["S:ao"] is not None
        assert find(networks.b, "epics_compat", ["S:ao"], timeout=2.0) == {"S:ao": None}
    finally:
        server.stop()
    assert beacons(since) == {networks.a: {f"{NET1}.1"}, networks.b: set()}
