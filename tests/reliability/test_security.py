"""What a server (or anyone on the network) can make the client do, and what it cannot.

A server must not be able to make the client allocate more than EPICS_CA_MAX_ARRAY_BYTES
for one message, stop or kill its I/O thread, make it run code, or make it hammer the
network; and the client sends its searches only where it was told to. README.rst
("Security") says what the client trusts and why.
"""
from __future__ import annotations

import ast
import logging
import random
import socket
import struct
import time
import tracemalloc

import numpy as np
import pytest
from reliability import DOUBLE, RawServer, connect, io_alive, read, wait_for

import caproto_core as core
import epics_compat.engine.circuits as circuit_rules
from epics_compat import _large_buffers, _netif
from epics_compat._config import Config
from epics_compat.engine import MAX_BEACON_SERVERS
from epics_compat.server import PV

pytestmark = pytest.mark.timeout(60)

from paths import ROOT
HEADER = struct.Struct(">HHHHII")
EXTENDED = struct.Struct(">II")


@pytest.fixture
def raw():
    raw = RawServer(["f"])
    yield raw
    raw.close()


class LogRecords(logging.Handler):
    """Every record of the epics_compat and caproto_core loggers, from any thread."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def __enter__(self):
        for name in ("epics_compat", "caproto_core"):
            logger = logging.getLogger(name)
            logger.addHandler(self)
            self._levels = getattr(self, "_levels", {})
            self._levels[name] = logger.level
            logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc):
        for name, level in self._levels.items():
            logging.getLogger(name).removeHandler(self)
            logging.getLogger(name).setLevel(level)

    def emit(self, record):
        self.records.append(record)

    def messages(self, level=logging.ERROR):
        return [r.getMessage() for r in self.records if r.levelno >= level]

    def tracebacks(self):
        """Records that carry an exception: an error nobody expected."""
        return [r.getMessage() for r in self.records if r.exc_info]


def serve(raw: RawServer, context, channel, native=DOUBLE, count=1):
    """Accept the client's circuit and connect ``channel`` on it; (socket, circuit, cid)."""
    sock = raw.accept()
    circuit, create = raw.serve_channel(sock, native, count)
    assert channel.connected.wait(5)
    return sock, circuit, create.cid


def requests_of(raw, sock, circuit, cls, count=1):
    got = raw.receive_messages(sock, circuit,
                               lambda ms: sum(isinstance(m, cls) for m in ms) >= count)
    return [m for m in got if isinstance(m, cls)]


# --- allocation bounded by EPICS_CA_MAX_ARRAY_BYTES -------------------------------------------

@pytest.mark.parametrize("announced", [0xFFFFFFFF, 2 ** 31, 1_000_000 + 513])
def test_a_header_announcing_too_much_drops_the_circuit_without_allocating(
        lab, raw, announced):
    """A reply whose extended header announces 4 GB (or anything past the limit plus the
    room for metadata) is refused as soon as its header is in: the circuit is dropped
    with an error naming EPICS_CA_MAX_ARRAY_BYTES, and memory stays small."""
    context = lab.context(raw.port, max_array_bytes=1_000_000)
    f = context.create_channel("f")
    sock, circuit, _ = serve(raw, context, f, DOUBLE, 10_000_000)
    pending = context.read(f, DOUBLE, 0)
    ioid = requests_of(raw, sock, circuit, core.ReadNotifyRequest)[0].ioid
    tracemalloc.start()
    try:
        with LogRecords() as log:
            sock.sendall(HEADER.pack(core.ReadNotifyResponse.ID, 0xFFFF, DOUBLE, 0, 1, ioid)
                         + EXTENDED.pack(announced, announced // 8) + bytes(4096))
            assert pending.wait(5), "the read did not end"
            _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000, f"{peak} bytes allocated for a refused message"
    assert "lost" in pending.error and "EPICS_CA_MAX_ARRAY_BYTES" in pending.error
    errors = log.messages()
    assert any("EPICS_CA_MAX_ARRAY_BYTES" in m and str(announced) in m for m in errors), \
        errors
    assert not log.tracebacks()
    # The client searches again, reconnects and reads what fits.
    sock, circuit, _ = serve(raw, context, f, DOUBLE, 100_000)
    pending = context.read(f, DOUBLE, 0)
    ioid = requests_of(raw, sock, circuit, core.ReadNotifyRequest)[0].ioid
    values = np.arange(100_000, dtype=">f8")
    sock.sendall(b"".join(bytes(b) for b in circuit.send(
        core.ReadNotifyResponse(values, DOUBLE, ioid))))
    assert pending.wait(5) and pending.error is None
    np.testing.assert_array_equal(pending.result.data, values)


def test_a_large_message_in_bounds_costs_its_size_once(lab, raw, monkeypatch):
    """A reply announcing 8 MB within the limit: one buffer of that size for its bytes,
    taken when the header comes; its numbers are converted there (the caller's value),
    no more."""
    monkeypatch.setattr(_large_buffers, "_values",  # no free value memory to reuse
                        _large_buffers.LargeBuffers(_large_buffers.KEEP_VALUES))
    context = lab.context(raw.port, max_array_bytes=10_000_000)
    f = context.create_channel("f")
    sock, circuit, _ = serve(raw, context, f, DOUBLE, 1_000_000)
    pending = context.read(f, DOUBLE, 0)
    ioid = requests_of(raw, sock, circuit, core.ReadNotifyRequest)[0].ioid
    reply = b"".join(bytes(b) for b in circuit.send(core.ReadNotifyResponse(
        np.ones(1_000_000, dtype=">f8"), DOUBLE, ioid)))
    tracemalloc.start()
    try:
        sock.sendall(reply[:24])  # the header alone, then the rest (not copied: traced)
        assert wait_for(lambda: any(c.large is not None
                                    for c in context.circuits.values()), 10)
        _, header_peak = tracemalloc.get_traced_memory()
        sock.sendall(memoryview(reply)[24:])
        assert pending.wait(10) and pending.error is None
        assert pending.result.data.sum() == 1_000_000
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert 8_000_000 <= header_peak < 8_000_000 + 3_000_000, header_peak
    assert 8_000_000 <= peak < 8_000_000 + 3_000_000, peak


@pytest.mark.parametrize("count", [0xFFFFFFFF, 1_000_000])
def test_a_count_larger_than_the_payload_is_refused(lab, raw, count):
    """A small payload announcing billions of elements: refused, nothing allocated."""
    context = lab.context(raw.port)
    f = context.create_channel("f")
    sock, circuit, _ = serve(raw, context, f)
    pending = context.read(f, DOUBLE, 0)
    ioid = requests_of(raw, sock, circuit, core.ReadNotifyRequest)[0].ioid
    with LogRecords() as log:
        sock.sendall(HEADER.pack(core.ReadNotifyResponse.ID, 0xFFFF, DOUBLE, 0, 1, ioid)
                     + EXTENDED.pack(16, count) + bytes(16))
        assert pending.wait(5) and "lost" in pending.error
    assert any("too short" in m for m in log.messages()), log.messages()


# --- the I/O thread survives anything -------------------------------------------------------

def random_messages(rng: random.Random, ids: list[int]) -> bytes:
    """1 to 4 messages: well framed or not, from the server's commands or any, with ids
    that name the client's real channel, request and subscription or nothing."""
    out = b""
    commands = [int(c) for c in core.RESPONSES]
    for _ in range(rng.randint(1, 4)):
        command = rng.choice(commands + [rng.randrange(0x10000)])
        data_type = rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 14, 20, 28, 34, 38, 39, 0xFFFF,
                                rng.randrange(0x10000)])
        count = rng.choice([0, 1, 2, 40, 1000, 0xFFFF, rng.randrange(0x10000)])
        p1 = rng.choice(ids + [0, 0xFFFFFFFF, rng.randrange(2 ** 32)])
        p2 = rng.choice(ids + [0, 0xFFFFFFFF, rng.randrange(2 ** 32)])
        size = rng.choice([0, 8, 16, 40, rng.randrange(600)])
        if rng.random() < 0.8:
            size = (size + 7) // 8 * 8
        payload = rng.randbytes(size)
        if rng.random() < 0.1:
            out += HEADER.pack(command, 0xFFFF, data_type, 0, p1, p2) + \
                EXTENDED.pack(size, rng.choice([count, 2 ** 32 - 1, 0])) + payload
        else:
            out += HEADER.pack(command, size, data_type, count, p1, p2) + payload
    if rng.random() < 0.2:
        out = out[:rng.randrange(len(out) + 1)]  # cut anywhere
    return out


def test_random_and_malicious_messages_never_stop_the_io_thread(lab, raw, monkeypatch):
    """150 circuits, each sent random messages after a real channel, subscription and
    read are set up on it: every one is either used or refused as a protocol error;
    nothing raises in the I/O thread or the callback thread; the circuit to a healthy
    server is served all along."""
    monkeypatch.setattr(circuit_rules, "FIRST_RETRY_DELAY", 0.0)  # reconnect at once each time
    rng = random.Random(20240601)
    healthy = lab.server([PV("c", "double", 3.0)])
    context = lab.context(raw.port, healthy, max_array_bytes=100_000)
    c = connect(context, "c")
    f = context.create_channel("f")
    updates = []
    context.subscribe(f, "time", 0, core.SubscriptionType.DBE_VALUE,
                      lambda message: updates.append((message.data, message.metadata)))
    started = time.monotonic()
    with LogRecords() as log:
        for case in range(150):
            native = rng.choice([0, 1, 2, 3, 4, 5, 6])
            sock, circuit, cid = serve(raw, context, f, native, rng.choice([1, 10]))
            pending = context.read(f, f.native_type, 0)
            got = requests_of(raw, sock, circuit, (core.EventAddRequest,
                                                   core.ReadNotifyRequest), 2)
            ids = [cid, 1] + [getattr(m, "ioid", None) or m.subscriptionid for m in got]
            data = random_messages(rng, ids)
            try:
                sock.sendall(data)
            except OSError:
                pass
            time.sleep(0.005)
            sock.close()
            assert pending.wait(5), f"case {case}: a read never ended ({data[:48].hex()})"
            assert wait_for(lambda: not f.connected.is_set(), 5)
            assert io_alive(context), f"case {case}: {data[:48].hex()}"
            if case % 10 == 0:
                assert read(context, c, timeout=2)[0] == 3.0
        context.dispatcher.wait_idle(5)
    assert not log.tracebacks(), log.tracebacks()[:5]
    assert read(context, c)[0] == 3.0
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("native", [7, 20, 38, 39, 0xFFFF])
def test_a_channel_with_an_impossible_native_type_is_refused(lab, raw, native):
    """A CREATE_CHAN reply with a type that is no native DBR type (0..6) used to connect
    the channel; restoring a subscription then raised inside the I/O thread. It is now a
    protocol error: the circuit is dropped, with an error naming the channel."""
    context = lab.context(raw.port)
    f = context.create_channel("f")
    with LogRecords() as log:
        sock = raw.accept()
        raw.serve_channel(sock, native, 1)
        assert wait_for(lambda: any("native type" in m for m in log.messages()), 5), \
            log.messages()
    assert not f.connected.is_set()
    assert not log.tracebacks()
    assert any("'f'" in m and str(native) in m for m in log.messages())
    assert io_alive(context)


def test_a_server_that_garbles_every_circuit_is_not_hammered(lab, raw):
    """Garbage on every new circuit: the client reconnects after a delay that doubles
    (it used to reconnect ~3,000 times a second, logging an error each time)."""
    context = lab.context(raw.port)
    context.create_channel("f")
    accepted = 0
    raw.listener.settimeout(0.2)
    deadline = time.monotonic() + 3.0
    with LogRecords() as log:
        while time.monotonic() < deadline:
            try:
                sock, _ = raw.listener.accept()
            except socket.timeout:
                continue
            accepted += 1
            sock.sendall(HEADER.pack(0x7F7F, 0, 0, 0, 0, 0))
            sock.close()
    assert 2 <= accepted <= 10, accepted
    assert len(log.messages()) <= 2 * accepted
    assert io_alive(context)


def test_a_server_restart_is_still_found_at_once(lab):
    """...while a circuit that served for a while is searched for again at once."""
    server = lab.server([PV("x", "double", 1.0)])
    context = lab.context(server)
    channel = connect(context, "x")
    events = []
    channel.connection_callbacks.append(
        lambda c, connected: events.append((connected, time.monotonic())))
    time.sleep(2.1)  # older than YOUNG_CIRCUIT
    server.faults.drop_circuits()
    assert wait_for(lambda: [e[0] for e in events] == [False, True], 5), events
    assert events[1][1] - events[0][1] < 0.5


# --- no code from the server is run ------------------------------------------------------------

CODE = "__import__('os').system('touch {marker}') or {{0.__class__}} %s%n"


def test_strings_from_the_server_are_only_data(lab, tmp_path):
    marker = tmp_path / "ran"
    text = CODE.format(marker=marker)[:39]
    server = lab.server([PV("s", "string", text), PV("e", "enum", 1, enum_strs=[text[:25], "b"]),
                         PV("d", "double", 1.0, units=text[:7])])
    context = lab.context(server)
    s, e, d = (connect(context, name) for name in "sed")
    assert read(context, s, core.ChannelType.STRING)[0] == text
    ctrl = context.read(e, core.ChannelType.CTRL_ENUM, 0)
    assert ctrl.wait(5) and ctrl.result.metadata["enum_strs"][0] == text[:25]
    ctrl = context.read(d, core.ChannelType.CTRL_DOUBLE, 0)
    assert ctrl.wait(5) and ctrl.result.metadata["units"] == text[:7]
    assert not marker.exists()


CLIENT_PACKAGES = ("caproto_core", "epics_compat")
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}
FORBIDDEN_MODULES = {"pickle", "marshal", "shelve", "yaml", "dill", "cloudpickle"}


def test_the_client_has_no_way_to_run_what_it_receives():
    """No eval/exec/compile/__import__ and no unpickling anywhere in the client packages
    (the test server and the command-line tools included); subprocesses only in the
    repeater launcher, with a fixed command line."""
    offences = []
    for package in CLIENT_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            where = path.relative_to(ROOT)
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                        and node.func.id in FORBIDDEN_CALLS:
                    offences.append(f"{where}:{node.lineno}: {node.func.id}()")
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    names = [a.name for a in node.names] if isinstance(node, ast.Import) \
                        else [node.module or ""]
                    for name in names:
                        if name.split(".")[0] in FORBIDDEN_MODULES:
                            offences.append(f"{where}:{node.lineno}: import {name}")
                        if name.split(".")[0] == "subprocess" and \
                                where.as_posix() != "epics_compat/host.py":
                            offences.append(f"{where}:{node.lineno}: import {name}")
    assert not offences, offences


# --- searches go where they are configured to go, and nowhere else ----------------------------

class RecordingSocket:
    """Stands in for the context's UDP socket when sending: records, forwards to loopback."""

    def __init__(self, sock):
        self.sock = sock
        self.sent: list[tuple[tuple[str, int], list]] = []

    def sendto(self, data, address):
        messages = core.read_datagram(data, core.CLIENT)
        self.sent.append((address, [type(m) for m in messages]))
        if address[0].startswith("127."):
            return self.sock.sendto(data, address)
        return len(data)  # not onto a real network from a test

    def __getattr__(self, name):
        return getattr(self.sock, name)

    def searched(self):
        return {address for address, kinds in self.sent if core.SearchRequest in kinds}

    def others(self):
        return {(address, tuple(kinds)) for address, kinds in self.sent
                if core.SearchRequest not in kinds}


def record_udp(context) -> RecordingSocket:
    done = []

    def swap():
        context._udp = RecordingSocket(context._udp)
        done.append(True)
    context.call_soon(swap)
    assert wait_for(lambda: done, 2)
    return context._udp


@pytest.mark.parametrize("auto", [False, True])
def test_searches_go_only_to_the_configured_addresses(lab, auto):
    config = dict(addr_list=[("127.0.0.1", 5), ("127.0.0.2", 7)], auto_addr_list=auto,
                  server_port=9)
    context = lab.context(**config)
    udp = record_udp(context)
    channels = [context.create_channel(f"nowhere:{i}") for i in range(300)]
    assert wait_for(lambda: all(c.search_attempts >= 3 for c in channels), 5)
    host_networks = _netif.auto_search_addresses(_netif.interfaces())
    expected = {("127.0.0.1", 5), ("127.0.0.2", 7)} | ({(ip, 9) for ip in host_networks}
                                                       if auto else set())
    assert udp.searched() == expected
    # Apart from searches, only the repeater registration, to the repeater on this host.
    for address, kinds in udp.others():
        assert address == ("127.0.0.1", lab.repeater.port)
        assert kinds == (core.RepeaterRegisterRequest,)


def test_with_only_name_servers_no_datagram_searches(lab):
    server = lab.server([PV("x", "double", 1.0)])
    context = lab.context(addr_list=[], auto_addr_list=False,
                          name_servers=[("127.0.0.1", server.port)])
    udp = record_udp(context)
    channel = connect(context, "x")
    assert read(context, channel)[0] == 1.0
    assert not udp.searched()


def test_address_list_from_the_environment_keeps_only_good_entries(caplog):
    env = {"EPICS_CA_ADDR_LIST": "127.0.0.1:5 10.1.2.255 host:notaport 127.0.0.3:6",
           "EPICS_CA_AUTO_ADDR_LIST": "NO", "EPICS_CA_SERVER_PORT": "5070"}
    with caplog.at_level(logging.WARNING, logger="epics_compat.config"):
        config = Config.from_environment(env)
    assert config.search_addresses() == [("127.0.0.1", 5), ("10.1.2.255", 5070),
                                          ("127.0.0.3", 6)]
    assert any("host:notaport" in r.getMessage() for r in caplog.records)
    env["EPICS_CA_AUTO_ADDR_LIST"] = "YES"
    automatic = [(ip, 5070) for ip in _netif.auto_search_addresses(_netif.interfaces())]
    assert Config.from_environment(env).search_addresses() == automatic + [
        ("127.0.0.1", 5), ("10.1.2.255", 5070), ("127.0.0.3", 6)]


def test_answers_to_searches_nobody_made_are_ignored(lab):
    """A search reply for a cid the client is not searching for connects nothing."""
    server = lab.server([PV("x", "double", 1.0)])
    context = lab.context(server)
    port = context._udp.getsockname()[1]
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        broadcaster = core.Broadcaster(core.SERVER)
        for cid in (0, 1, 12345, 0xFFFFFFFF):
            stranger.sendto(broadcaster.send(core.VersionResponse(13), core.SearchResponse(
                server.port, "127.0.0.1", cid)), ("127.0.0.1", port))
        stranger.sendto(b"\xff" * 40, ("127.0.0.1", port))
        time.sleep(0.3)
    finally:
        stranger.close()
    assert not context.circuits
    assert io_alive(context)
    assert read(context, connect(context, "x"))[0] == 1.0


# --- beacons: anyone can send them --------------------------------------------------------------

def send_beacons(context, count, ports=None, seconds=1.0):
    """``count`` beacons with random ids to the context's UDP port, over ``seconds``."""
    port = context._udp.getsockname()[1]
    rng = random.Random(7)
    broadcaster = core.Broadcaster(core.SERVER)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for i in range(count):
            server_port = 5064 + (i % 50) if ports is None else ports(i)
            sock.sendto(broadcaster.send(core.RsrvIsUpResponse(
                13, server_port, rng.randrange(2 ** 32), "127.0.0.1")), ("127.0.0.1", port))
            if i % 10 == 0:
                time.sleep(seconds / count * 10)


def test_a_beacon_flood_is_not_turned_into_a_search_flood(lab):
    """Every anomalous beacon used to restart the search of every channel not found: 500
    beacons a second (16 bytes each) drew ~3,500 search datagrams (~9 kB each beacon)
    for 300 such channels. Restarts now come at most every BEACON_RESTART_INTERVAL."""
    context = lab.context(9)
    udp = record_udp(context)
    channels = [context.create_channel(f"nowhere:{i}") for i in range(300)]
    assert wait_for(lambda: all(c.search_attempts >= 8 for c in channels), 10)
    before = len(udp.sent)
    send_beacons(context, 500)
    time.sleep(0.2)
    per_batch = len(core.Broadcaster(core.CLIENT).search_datagrams(
        [core.SearchRequest(c.name, c.chid) for c in channels]))
    batches = (len(udp.sent) - before) / per_batch
    # Each restart searches again from the first delay (20 ms, doubling): ~6 batches in
    # BEACON_RESTART_INTERVAL. It was one batch per beacon: ~500.
    assert batches < 40, batches
    assert io_alive(context)


def test_the_beacon_table_stays_bounded(lab):
    """Beacons from 20,000 made-up servers: the context remembers at most
    MAX_BEACON_SERVERS of them (it used to keep every one, for ever)."""
    context = lab.context(9)
    send_beacons(context, 20_000, ports=lambda i: 1024 + i, seconds=1.0)
    assert wait_for(lambda: len(context.search_plan.beacons) >= MAX_BEACON_SERVERS // 2, 5)
    time.sleep(0.3)
    assert len(context.search_plan.beacons) <= MAX_BEACON_SERVERS


def test_host_names_in_the_address_list_are_resolved_once(lab, monkeypatch, caplog):
    """A name in EPICS_CA_ADDR_LIST is resolved when the context starts, not by every
    sendto of every search (a slow resolver stalled the I/O thread each time); a name
    that does not resolve is reported once and the other addresses are searched."""
    server = lab.server([PV("x", "double", 1.0)])
    calls = []
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *args, **kwargs: (
        calls.append(host), real(host, *args, **kwargs))[1])
    with caplog.at_level(logging.WARNING, logger="epics_compat.context"):
        context = lab.context(addr_list=[("localhost", server.port),
                                         ("no-such-host.invalid", 5)],
                              server_port=server.port)
    udp = record_udp(context)
    channels = [context.create_channel(f"nowhere:{i}") for i in range(3)]
    assert read(context, connect(context, "x"))[0] == 1.0
    assert wait_for(lambda: all(c.search_attempts >= 5 for c in channels), 5)
    assert udp.searched() == {("127.0.0.1", server.port)}
    assert sorted(calls) == ["localhost", "no-such-host.invalid"]
    warnings = [r.getMessage() for r in caplog.records if "no-such-host" in r.getMessage()]
    assert len(warnings) == 1, warnings


def test_the_repeater_serves_only_clients_on_this_host():
    """Anyone may send the repeater datagrams (beacons come from other hosts), but only a
    client on this host may register: a registration from elsewhere (its source address
    may be forged) used to be accepted, and every datagram the repeater received was then
    sent on to that address. EPICS base's caRepeater refuses them too."""
    from epics_compat.repeater import Repeater
    repeater = Repeater(0).bind()
    sent = []
    repeater._send = lambda data, client: sent.append(client)  # as on a routed network
    try:
        register = bytes(core.RepeaterRegisterRequest("0.0.0.0"))
        repeater.handle(register, ("192.0.2.77", 5000))  # TEST-NET: never this host
        repeater.handle(b"", ("198.51.100.9", 6000))
        own = socket.gethostbyname(socket.gethostname())
        repeater.handle(register, ("127.0.0.1", 7000))
        repeater.handle(b"", (own, 7001))
        assert repeater.clients == {("127.0.0.1", 7000), (own, 7001)}
        sent.clear()
        beacon = core.Broadcaster(core.SERVER).send(
            core.RsrvIsUpResponse(13, 5064, 1, "203.0.113.5"))
        repeater.handle(beacon, ("203.0.113.5", 5065))
        assert sorted(sent) == [("127.0.0.1", 7000), (own, 7001)]
    finally:
        repeater._sock.close()
