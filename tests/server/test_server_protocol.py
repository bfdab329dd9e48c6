"""epics_compat.server at the protocol level, through caproto_core's CLIENT role.

Fast and exact: which messages the server sends for searches, channel creation, reads
in every DBR type, writes with completion, subscriptions and their masks, flow control,
beacons, and bad requests (answered with ERROR; the server and its other clients go on).
"""
from __future__ import annotations

import math
import socket
import struct
import threading
import time

import pytest
from caproto_core import (AccessRights, ChannelType, ClearChannelResponse, EcaStatus, EchoRequest,
                          EchoResponse, ErrorResponse, EventAddResponse, EventCancelResponse,
                          EventsOffRequest, EventsOnRequest, NotFoundResponse,
                          ReadNotifyRequest, ReadNotifyResponse, RsrvIsUpResponse,
                          SearchReply, SearchResponse, ServerDisconnResponse,
                          SubscriptionType, VersionResponse, WriteNotifyResponse,
                          read_datagram, SERVER)

from paths import TESTS
from pyserver import RawClient, search, server_package

srv = server_package()
PV, Server = srv.PV, srv.Server
VALUE, LOG, ALARM, PROPERTY = (SubscriptionType.DBE_VALUE, SubscriptionType.DBE_LOG,
                               SubscriptionType.DBE_ALARM, SubscriptionType.DBE_PROPERTY)
pytestmark = pytest.mark.timeout(30)


def make_pvs():
    return [
        PV("x", "double", 3.25, units="mm", precision=4, upper_disp_limit=100,
           lower_disp_limit=-100, upper_alarm_limit=90, upper_warning_limit=80,
           lower_warning_limit=-80, lower_alarm_limit=-90, upper_ctrl_limit=50,
           lower_ctrl_limit=-50, alarm_on_limits=True),
        PV("s", "string", "hello"),
        PV("e", "enum", 1, enum_strs=("Off", "On")),
        PV("w", "long", [1, 2, 3], count=10),
        PV("ro", "double", 7.0, access="r"),
        PV("slow", "double", 0.0, put_delay=0.3),
    ]


@pytest.fixture
def server():
    with Server(make_pvs(), beacon_address=None) as running:
        yield running


@pytest.fixture
def client(server):
    with RawClient(server.port) as raw:
        yield raw


# --- searches and channels ------------------------------------------------------------------

def test_search_answers_served_names_only(server):
    messages = search(server.port, "x", "nope", "w.VAL")
    assert isinstance(messages[0], VersionResponse)
    found = {m.cid: m for m in messages if isinstance(m, SearchResponse)}
    assert sorted(found) == [1, 3]
    assert found[1].port == server.port and found[1].ip == "127.0.0.1"
    assert not [m for m in messages if isinstance(m, NotFoundResponse)]


def test_search_with_do_reply_gets_not_found(server):
    messages = search(server.port, "nope", "x", reply=SearchReply.DO_REPLY)
    assert [m.cid for m in messages if isinstance(m, NotFoundResponse)] == [1]
    assert [m.cid for m in messages if isinstance(m, SearchResponse)] == [2]


def test_search_over_tcp(server, client):
    """A server answers searches on a circuit too (as a name server)."""
    from caproto_core import SearchRequest
    client.send(SearchRequest("x", 41, reply=SearchReply.DO_REPLY),
                SearchRequest("nope", 42, reply=SearchReply.DO_REPLY))
    client.expect(VersionResponse)  # the answer to the client's VERSION
    found = client.expect(SearchResponse)
    assert (found.cid, found.port) == (41, server.port)
    assert client.expect(NotFoundResponse).cid == 42


def test_create_channel_gives_type_count_and_rights(client):
    channel = client.connect("w")
    assert (channel.native_data_type, channel.native_data_count) == (ChannelType.LONG, 10)
    assert channel.access_rights == AccessRights.READ_WRITE
    assert client.connect("ro").access_rights == AccessRights.READ
    assert client.connect("x.VAL").native_data_type == ChannelType.DOUBLE


def test_unknown_name_gets_create_ch_fail(client):
    with pytest.raises(LookupError):
        client.connect("nope")


def test_clear_channel_and_echo(client):
    channel = client.connect("x")
    client.send(channel.clear())
    client.expect(ClearChannelResponse)
    client.send(EchoRequest())
    client.expect(EchoResponse)


def test_removed_pv_disconnects_its_channels(server, client):
    channel = client.connect("s")
    server.remove("s")
    client.expect(ServerDisconnResponse)
    assert channel.state.value == "disconnected"
    assert not search(server.port, "s", timeout=0.3)


# --- reads --------------------------------------------------------------------------------

def read(client, channel, data_type, count=0):
    client.send(channel.read(data_type, count))
    return client.expect(ReadNotifyResponse)


@pytest.mark.parametrize("data_type", range(35))
def test_read_every_dbr_type(client, data_type):
    channel = client.connect("x")
    response = read(client, channel, data_type)
    assert response.status == EcaStatus.ECA_NORMAL
    native = ChannelType(data_type % 7)
    value = response.data[0]
    expected = {ChannelType.STRING: "3.2500", ChannelType.DOUBLE: 3.25,
                ChannelType.FLOAT: 3.25, ChannelType.CHAR: 3}.get(native, 3)
    assert value == expected
    metadata = response.metadata or {}
    family = ("native", "sts", "time", "gr", "ctrl")[data_type // 7]
    if family != "native":
        assert (metadata["status"], metadata["severity"]) == (0, 0)
    if family == "time":
        assert abs(metadata["timestamp"] - time.time()) < 60
    if family in ("gr", "ctrl") and native not in (ChannelType.STRING, ChannelType.ENUM):
        assert metadata["units"] == "mm"
        assert metadata["upper_disp_limit"] == 100
        assert metadata["upper_alarm_limit"] == 90
        assert metadata.get("precision", 4) == 4
    if family == "ctrl" and native not in (ChannelType.STRING, ChannelType.ENUM):
        low = 256 - 50 if native == ChannelType.CHAR else -50  # CHAR limits are unsigned
        assert (metadata["upper_ctrl_limit"], metadata["lower_ctrl_limit"]) == (50, low)


# Each native type at its edges; the DOUBLE NaN carries a payload its bits must keep.
NAN_WITH_PAYLOAD = struct.unpack(">d", bytes.fromhex("7ff8000000000abc"))[0]
ONE_VALUES = [("double", v) for v in (-0.0, 1e308, float.fromhex("0x1.8p-1074"),
                                      NAN_WITH_PAYLOAD)] + \
    [("long", v) for v in (-2**31, 2**31 - 1)] + [("short", v) for v in (-2**15, 2**15 - 1)] + \
    [("enum", 1), ("char", 255), ("float", 0.1)]


@pytest.mark.parametrize("pv_type, value", ONE_VALUES)
def test_one_value_is_sent_as_one_of_two_would_be(pv_type, value):
    """The core packs a lone number with struct; in every DBR type the bytes of a scalar
    PV's read must be those of the general path (which two elements take): the metadata,
    then the first element, padded."""
    import numpy
    from caproto_core import dbr_type, encode_values
    from caproto_core._dbr import encode_metadata, pad
    from epics_compat.server.payloads import encode_read
    pv = PV("one", pv_type, value, enum_strs=("Off", "On"), units="mm", precision=3)
    for data_type in range(35):
        layout = dbr_type(data_type)
        if layout.native == ChannelType.STRING:
            continue
        values, metadata = pv.read(data_type, 0)
        both, _ = encode_values(layout.native, numpy.asarray(values).repeat(2))
        expected = pad(encode_metadata(layout, metadata) + bytes(both)[:len(both) // 2])
        payload, count, status = encode_read(pv, data_type, 0)
        assert (bytes(payload), count, status) == (expected, 1, EcaStatus.ECA_NORMAL), \
            (pv_type, value, layout.type_id.name)


def test_read_enum_as_string_and_ctrl(client):
    channel = client.connect("e")
    assert read(client, channel, ChannelType.STRING).data == ["On"]
    assert read(client, channel, ChannelType.CTRL_ENUM).metadata["enum_strs"] == ("Off", "On")
    assert list(read(client, channel, ChannelType.DOUBLE).data) == [1.0]


def test_read_string_that_is_no_number_fails_like_rsrv(client):
    response = read(client, client.connect("s"), ChannelType.DOUBLE)
    assert response.status == EcaStatus.ECA_GETFAIL


def test_read_counts(client):
    channel = client.connect("w")
    assert list(read(client, channel, ChannelType.LONG).data) == [1, 2, 3]  # count 0: NORD
    assert list(read(client, channel, ChannelType.LONG, 5).data) == [1, 2, 3, 0, 0]
    assert list(read(client, channel, ChannelType.LONG, 2).data) == [1, 2]
    assert read(client, channel, ChannelType.STRING).data == ["1", "2", "3"]


def test_class_name_and_stsack(client):
    channel = client.connect("x")
    assert read(client, channel, ChannelType.CLASS_NAME).data == ["ao"]
    response = read(client, channel, ChannelType.STSACK_STRING)
    assert response.data == ["3.2500"] and response.metadata["status"] == 0


def test_read_without_read_access():
    pvs = [PV("hidden", "double", 1.0, access="")]
    with Server(pvs, beacon_address=None) as server, RawClient(server.port) as client:
        response = read(client, client.connect("hidden"), ChannelType.DOUBLE)
        assert response.status == EcaStatus.ECA_NORDACCESS


def test_large_array_in_and_out():
    count = 1_000_000
    with Server([PV("big", "double", count=count)], beacon_address=None) as server, \
            RawClient(server.port, timeout=10) as client:
        channel = client.connect("big")
        client.send(channel.write([float(i) for i in range(count)], notify=True))
        client.expect(WriteNotifyResponse)
        response = read(client, channel, ChannelType.DOUBLE)
        assert response.data_count == count and response.data[-1] == count - 1
        assert response.extended


# --- writes -------------------------------------------------------------------------------

def test_write_notify_converts_and_completes(server, client):
    channel = client.connect("x")
    client.send(channel.write(["12.5"], ChannelType.STRING, notify=True))
    assert client.expect(WriteNotifyResponse).status == EcaStatus.ECA_NORMAL
    assert server["x"].value == 12.5
    channel = client.connect("e")
    client.send(channel.write(["Off"], ChannelType.STRING, notify=True))
    client.expect(WriteNotifyResponse)
    assert server["e"].value == 0


def test_write_completion_waits_for_processing(client):
    channel = client.connect("slow")
    start = time.monotonic()
    client.send(channel.write([1.0], notify=True))
    client.expect(WriteNotifyResponse)
    assert time.monotonic() - start >= 0.28


def test_write_failures(client):
    channel = client.connect("x")
    client.send(channel.write(["abc"], ChannelType.STRING, notify=True))
    assert client.expect(WriteNotifyResponse).status == EcaStatus.ECA_PUTFAIL
    client.send(channel.write(["abc"], ChannelType.STRING, notify=False))
    error = client.expect(ErrorResponse)
    assert error.status == EcaStatus.ECA_PUTFAIL and error.cid == channel.cid
    readonly = client.connect("ro")
    client.send(readonly.write([1.0], notify=True))
    assert client.expect(WriteNotifyResponse).status == EcaStatus.ECA_NOWTACCESS


def test_array_write_truncates_to_count(server, client):
    channel = client.connect("w")
    client.send(channel.write(list(range(20)), notify=True))
    client.expect(WriteNotifyResponse)
    assert list(server["w"].value) == list(range(10))


# --- subscriptions ------------------------------------------------------------------------

def subscribe(client, channel, mask, data_type=ChannelType.TIME_DOUBLE):
    request = channel.subscribe(data_type, 0, mask)
    client.send(request)
    first = client.expect(EventAddResponse)
    assert first.subscriptionid == request.subscriptionid
    return request.subscriptionid


def test_subscription_masks(server, client):
    channel = client.connect("x")
    ids = {mask: subscribe(client, channel, mask) for mask in (VALUE, ALARM, PROPERTY, LOG)}
    server["x"].write(1.0)
    got = client.quiet()
    assert sorted(m.subscriptionid for m in got) == sorted([ids[VALUE], ids[LOG]])
    server["x"].write(1.0)  # no change: no event
    assert client.quiet() == []
    server["x"].write(85.0)  # value and HIGH/MINOR alarm
    got = client.quiet()
    assert sorted(m.subscriptionid for m in got) == sorted([ids[VALUE], ids[LOG], ids[ALARM]])
    assert got[0].metadata["severity"] == 1 and got[0].metadata["status"] == 4
    server["x"].set_metadata(units="V")
    assert [m.subscriptionid for m in client.quiet()] == [ids[PROPERTY]]


def test_event_cancel(server, client):
    channel = client.connect("x")
    subscriptionid = subscribe(client, channel, VALUE)
    client.send(channel.unsubscribe(subscriptionid))
    assert client.expect(EventCancelResponse).subscriptionid == subscriptionid
    server["x"].write(2.0)
    assert client.quiet() == []


def test_monitor_of_a_client_write_reaches_other_clients(server, client):
    channel = client.connect("s")
    subscriptionid = subscribe(client, channel, VALUE, ChannelType.STRING)
    with RawClient(server.port) as writer:
        writer.send(writer.connect("s").write("bye", notify=True))
        writer.expect(WriteNotifyResponse)
    update = client.expect(EventAddResponse)
    assert update.subscriptionid == subscriptionid and update.data == ["bye"]


def test_events_off_holds_updates_and_on_sends_the_newest(server, client):
    channel = client.connect("x")
    subscribe(client, channel, VALUE)
    client.send(EventsOffRequest())
    client.send(EchoRequest())
    client.expect(EchoResponse)  # EVENTS_OFF has been read
    for value in (1.0, 2.0, 3.0):
        server["x"].write(value)
    assert client.quiet() == []
    client.send(EventsOnRequest())
    updates = client.quiet()
    assert [list(m.data) for m in updates] == [[3.0]]



def test_a_new_subscription_gets_a_racing_write_once():
    """A write posts after it lets go of the PV. A subscription made in between finds the
    new value already in its first update; the write's own post must not send it again
    (the repeats test_server_load counted, and a CAProcess monitor once saw [n, n])."""
    pv = PV("n", "long", 0)
    stored, go_on = threading.Event(), threading.Event()

    class HoldTheWrite:  # observes before the server does: the write is stored, not posted
        def pv_changed(self, pv, mask):
            stored.set()
            go_on.wait(5)

        def pv_access_changed(self, pv):
            pass

    pv.observe(HoldTheWrite())
    with Server([pv], beacon_address=None) as server, RawClient(server.port) as client:
        channel = client.connect("n")
        writer = threading.Thread(target=pv.write, args=(5,))
        writer.start()
        assert stored.wait(5)
        request = channel.subscribe(ChannelType.LONG, 0, VALUE)
        client.send(request)
        assert list(client.expect(EventAddResponse).data) == [5]
        go_on.set()
        writer.join(5)
        pv.write(6)
        assert [list(m.data) for m in client.quiet()] == [[6]]

# --- beacons ------------------------------------------------------------------------------

def beacons(sock, count, timeout=2.0):
    got = []
    sock.settimeout(timeout)
    while len(got) < count:
        got.extend(read_datagram(sock.recv(1024), SERVER))
    return got


def test_beacons_then_anomalies():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        with Server([PV("x")], beacon_address=sock.getsockname(),
                    beacon_period=0.1) as server:
            first = beacons(sock, 4)
            assert all(isinstance(b, RsrvIsUpResponse) for b in first)
            assert [b.beacon_id for b in first] == [0, 1, 2, 3]
            assert {b.server_port for b in first} == {server.port}
            server.faults.beacon_anomaly("jump")
            ids = [b.beacon_id for b in first + beacons(sock, 3)]
            assert any(later - earlier >= 1000 for earlier, later in zip(ids, ids[1:]))
            server.faults.beacon_anomaly("restart")  # ids from 0 again, beacons fast again
            ids += [b.beacon_id for b in beacons(sock, 6)]
            assert any(later == 0 and earlier >= 1000 for earlier, later in zip(ids, ids[1:]))


# --- bad requests --------------------------------------------------------------------------

def test_bad_requests_get_errors_and_the_circuit_goes_on(server, client):
    channel = client.connect("x")
    client.send_bytes(bytes.fromhex("7f7f0000000000000000000000000000"))  # no such command
    assert client.expect(ErrorResponse).status == EcaStatus.ECA_INTERNAL
    client.send_bytes(bytes(ReadNotifyRequest(ChannelType.DOUBLE, 1, 9999, 77)))  # bad sid
    assert client.expect(ErrorResponse).status == EcaStatus.ECA_BADCHID
    client.send_bytes(bytes(ReadNotifyRequest(99, 1, channel.sid, 78)))  # bad type
    assert client.expect(ErrorResponse).status == EcaStatus.ECA_BADTYPE
    client.send_bytes(bytes.fromhex("0002000000060001") + channel.sid.to_bytes(4, "big")
                      + (4242).to_bytes(4, "big"))  # cancel of an unknown subscription
    assert client.expect(ErrorResponse).status == EcaStatus.ECA_BADMONID
    # A write whose payload is shorter than its count says.
    client.send_bytes(bytes.fromhex("0013000800060064") + channel.sid.to_bytes(4, "big")
                      + (79).to_bytes(4, "big") + bytes(8))
    assert client.expect(ErrorResponse).status == EcaStatus.ECA_BADCOUNT
    assert read(client, channel, ChannelType.DOUBLE).data[0] == 3.25


def test_a_client_sending_garbage_does_not_disturb_others(server, client):
    channel = client.connect("x")
    with socket.create_connection(("127.0.0.1", server.port)) as bad:
        bad.sendall(b"\xff" * 4096)  # an extended header announcing ~4 GB, then junk
        bad.settimeout(3)
        received = b""
        while True:
            data = bad.recv(4096)
            if not data:
                break  # the server hung up on it
            received += data
    assert read(client, channel, ChannelType.DOUBLE).data[0] == 3.25
    assert server.running


def test_malformed_fault_bytes_reach_the_client(server):
    with RawClient(server.port, check=False) as client:
        client.connect("x")
        server.faults.send_malformed("bad_command")
        assert client.sock.recv(16)[:2] == b"\x7f\x7f"
        server.faults.send_malformed("truncated")
        data = b""
        client.sock.settimeout(3)
        while chunk := client.sock.recv(100):
            data += chunk
        assert len(data) == 16 + 32  # half of the announced payload, then the end


# --- conversions, as the softIoc of epicscorelibs 7.0.10 does them -----------------------------

@pytest.mark.parametrize("value, precision, text", [
    (3.25, 4, "3.2500"), (0.125, 2, "0.13"), (2.675, 2, "2.67"), (1.005, 2, "1.00"),
    (9999999.995, 2, "9999999.99"), (12345678.9, 4, "12345678.900"), (1e16, 4,
    "10000000000000000.000"), (1.5e16, 2, " 1.50e+16"), (1e17, 4, " 1.0000e+17"),
    (math.nan, 4, "nan"), (math.inf, 4, "        inf"), (2 / 3, 0, "1"),
    (2 / 3, 9, " 6.666666667e-01"), (123456789.123, 20, " 1.23456789122999996e+08"),
])
def test_double_as_string(value, precision, text):
    assert srv.convert.format_double(value, precision) == text


@pytest.mark.parametrize("value, precision, text", [
    (123456.789, 4, "123456.7891"), (12345678.9, 4, "12345679.000"), (1e9, 4, "1.0000e+09"),
    (math.inf, 4, "       inf"), (1 / 3, 10, "3.3333334327e-01"),
    (1e20, 14, "1.000000020041e+20"),
])
def test_float_as_string(value, precision, text):
    assert srv.convert.format_float(value, precision) == text


def test_double_to_integer_types_as_a_c_cast():
    convert, D = srv.convert.convert, ChannelType.DOUBLE
    values = [123456.789, 1e15, -3.33, math.nan]
    assert convert(values, D, ChannelType.LONG) == [123456, -2 ** 31, -3, -2 ** 31]
    assert convert(values, D, ChannelType.INT) == [-7616, 0, -3, 0]
    assert convert(values, D, ChannelType.CHAR) == [64, 0, 253, 0]
    assert convert(values, D, ChannelType.ENUM) == [57920, 0, 65533, 0]


def test_text_to_numbers_and_states():
    parse = srv.convert.parse_number
    assert [parse(t, ChannelType.LONG) for t in (" 12 ", "0x10", "12.7", "", "010")] == \
        [12, 16, 12, 0, 8]
    assert srv.convert.string_to_enum("1", ("Zero", "One")) == 1
    with pytest.raises(srv.ConversionError):
        srv.convert.string_to_enum("nope", ("Zero", "One"))


# --- the repeater -------------------------------------------------------------------------

def test_repeater_relays_beacons_to_registered_clients():
    from caproto_core import RepeaterConfirmResponse, RepeaterRegisterRequest
    with srv.Repeater(port=0) as repeater, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as legacy, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as modern:
        address = ("127.0.0.1", repeater.port)
        legacy.sendto(b"", address)  # what libca sends to register
        modern.sendto(bytes(RepeaterRegisterRequest("127.0.0.1")), address)
        for sock in (legacy, modern):
            sock.settimeout(2)
            confirm, = read_datagram(sock.recv(1024), SERVER)
            assert isinstance(confirm, RepeaterConfirmResponse)
        with Server([PV("x")], beacon_address=address, beacon_period=0.1) as server:
            for sock in (legacy, modern):
                beacon = beacons(sock, 1)[0]
                assert beacon.server_port == server.port and beacon.address == "127.0.0.1"


def test_the_repeater_fills_in_the_address_a_beacon_leaves_out():
    from caproto_core import RsrvIsUpResponse
    fill = srv.Repeater._with_server_address
    anonymous = bytes(RsrvIsUpResponse(13, 5064, 7, 0))
    beacon, = read_datagram(fill(anonymous, "10.1.2.3"), SERVER)
    assert (beacon.server_port, beacon.beacon_id, beacon.address) == (5064, 7, "10.1.2.3")
    signed = bytes(RsrvIsUpResponse(13, 5064, 8, "10.9.9.9"))
    assert fill(signed, "10.1.2.3") == signed
    assert fill(b"not a beacon", "10.1.2.3") == b"not a beacon"


def test_search_log(server):
    search(server.port, "x", "nope")
    assert [entry[1] for entry in server.searches] == ["x", "nope"]


NO_NUMPY = r"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "numpy" or name.startswith("numpy."):
            raise ImportError("numpy is blocked for this test")
sys.meta_path.insert(0, Block())
sys.path.insert(0, {tests!r})
import pyserver
srv = pyserver.server_package()
assert srv.convert.numpy is None
from caproto_core import ReadNotifyResponse, WriteNotifyResponse
pvs = [srv.PV("a", "double", [1.5, 2.5], count=4), srv.PV("c", "char", b"hi", count=8),
       srv.PV("e", "enum", "On", enum_strs=("Off", "On")), srv.Motor("m", velocity=50)]
with srv.Server(pvs, beacon_address=None) as server, pyserver.RawClient(server.port) as c:
    reads = []
    for name, data_type in [("a", 6), ("a", 0), ("a", 1), ("c", 4), ("e", 0)]:
        channel = c.connect(name)
        c.send(channel.read(data_type))
        reads.append(list(c.expect(ReadNotifyResponse).data))
    channel = c.connect("m")
    c.send(channel.write([1.0], notify=True))
    c.expect(WriteNotifyResponse)
    print(reads, server["m.RBV"].value)
"""


def test_server_works_without_numpy():
    import subprocess
    import sys
    code = NO_NUMPY.format(tests=str(TESTS))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ("[[1.5, 2.5], ['2', '3'], [1, 2], [104, 105], ['On']] "
                                   "1.0")


def test_random_requests_never_break_the_server(caplog):
    """Well-framed requests with random fields and payloads, on channels that exist:
    every one is answered or refused, none raises inside the server."""
    import random
    import struct
    rng = random.Random(4)
    pvs = make_pvs() + [srv.Motor("fuzz:m")]
    with Server(pvs, beacon_address=None) as server:
        for _ in range(150):
            with RawClient(server.port) as client:
                sids = [client.connect(name).sid for name in ("x", "s", "w", "e", "fuzz:m")]
                data = b""
                for _ in range(rng.randint(1, 8)):
                    command = rng.choice([1, 2, 4, 6, 8, 9, 10, 12, 15, 18, 19, 20, 21, 23,
                                          rng.randint(0, 40)])
                    payload = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 8, 48])))
                    data += struct.pack(">HHHHII", command, len(payload),
                                        rng.choice([0, 3, 6, 14, 20, 34, 35, 37, 38,
                                                    rng.randint(0, 99)]),
                                        rng.choice([0, 1, 2, 100, rng.randint(0, 65535)]),
                                        rng.choice(sids + [rng.getrandbits(32)]),
                                        rng.getrandbits(32)) + payload
                client.send_bytes(data)
        with RawClient(server.port) as client:
            assert read(client, client.connect("x"), ChannelType.DOUBLE).status == 1
    assert not [r for r in caplog.records if r.levelno >= 40], "the server logged errors"
