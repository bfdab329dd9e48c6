"""Golden bytes: real libca <-> softIoc (rsrv) traffic from tests/data/ (see its README).

No one in this project wrote these bytes. Every message must decode (data payloads too),
serialise back to exactly the captured bytes, datagram by datagram and stream by stream,
mean what the capture's README and types.db say it means, and pass through a client and
a server VirtualCircuit in capture order, ending with every channel cleared.
"""
from __future__ import annotations

import inspect
import math
import re
import struct
from collections import Counter


import numpy
import pytest

import caproto_core as cc
from epics_compat.shark import pcap
from epics_compat.shark.pcap import CA_SERVER_PORT, read_pcap

from paths import DATA

CAPTURE = DATA / "libca_rsrv.pcap"
TYPES_DB = DATA / "types.db"
ChannelType = cc.ChannelType
#: What pyepics (which made the capture) sets EPICS_CA_MAX_ARRAY_BYTES to.
MAX_ARRAY_BYTES = 2**24

pytestmark = pytest.mark.skipif(not CAPTURE.is_file(),
                                reason=f"reference capture missing: {CAPTURE}")


@pytest.fixture(scope="module")
def capture():
    return read_pcap(CAPTURE)


def sender_role(src, dst) -> cc.Role:
    """Whoever sends to the server port (or the repeater) is a client."""
    return cc.SERVER if src[1] == CA_SERVER_PORT else cc.CLIENT


@pytest.fixture(scope="module")
def connection(capture):
    """(client->server messages, server->client messages) of the one TCP connection."""
    ((client, server, to_server, to_client),) = capture.connections()
    requests, consumed = cc.read_stream(to_server, cc.CLIENT)
    assert consumed == len(to_server)
    responses, consumed = cc.read_stream(to_client, cc.SERVER)
    assert consumed == len(to_client)
    return requests, responses


@pytest.fixture(scope="module")
def names(connection):
    """cid -> name and sid -> name of the channels created on the connection."""
    requests, responses = connection
    by_cid = {m.cid: m.name for m in requests if isinstance(m, cc.CreateChanRequest)}
    by_sid = {m.sid: by_cid[m.cid] for m in responses if isinstance(m, cc.CreateChanResponse)}
    return by_cid, by_sid


def answers(connection, names, name, data_type):
    """The responses to the reads of channel ``name`` as ``data_type``, in order."""
    requests, responses = connection
    _, by_sid = names
    ioids = {m.ioid for m in requests if isinstance(m, cc.ReadNotifyRequest)
             and by_sid[m.sid] == name and m.data_type == data_type}
    found = [m for m in responses if isinstance(m, cc.ReadNotifyResponse) and m.ioid in ioids]
    assert found, f"no read of {name} as {ChannelType(data_type).name} in the capture"
    return found


def types_db() -> dict[str, dict[str, str]]:
    """record name -> {field: value} of types.db."""
    records = {}
    for match in re.finditer(r'record\((\w+), "([^"]+)"\) \{(.*?)\}\s*$', TYPES_DB.read_text(),
                             re.M):
        fields = dict(re.findall(r'field\((\w+), "([^"]*)"\)', match.group(3)))
        records[match.group(2)] = {"RTYP": match.group(1), **fields}
    return records


# --- every byte --------------------------------------------------------------------------------

def test_every_datagram_decodes_and_reencodes_exactly(capture):
    assert capture.datagrams
    for index, (src, dst, payload) in enumerate(capture.datagrams):
        role = sender_role(src, dst)
        messages = cc.read_datagram(payload, role)
        assert messages, index
        assert b"".join(bytes(m) for m in messages) == payload, index
        # The Broadcaster of the other role reads the same messages.
        receiver = cc.Broadcaster(cc.CLIENT if role is cc.SERVER else cc.SERVER)
        assert receiver.recv(payload, src) == messages
        for message in messages:
            assert isinstance(message, cc.DATAGRAM_MESSAGES[role]), (index, message)
            repr(message)


@pytest.mark.parametrize("direction", ["client to server", "server to client"])
def test_every_stream_decodes_and_reencodes_exactly(capture, direction):
    for (src, dst), stream in capture.streams.items():
        role = sender_role(src, dst)
        if (role is cc.CLIENT) != (direction == "client to server"):
            continue
        messages, consumed = cc.read_stream(stream, role)
        assert consumed == len(stream)
        assert b"".join(bytes(m) for m in messages) == stream
        offset = 0
        for message in messages:  # message by message too, so a mismatch says where
            raw = bytes(message)
            assert stream[offset:offset + len(raw)] == raw, (offset, message)
            offset += len(raw)
            if isinstance(message, cc.DATA_MESSAGES):
                metadata, values = message.decode()
                assert len(values) == message.data_count, message
                plain_metadata, plain = message.decode(use_numpy=False)
                assert len(plain) == len(values)
                # Decoded data encodes back to the captured payload: the core's encoder
                # writes what libca and rsrv write.
                assert_reencodes(message, metadata, values)
            repr(message)


def assert_reencodes(message, metadata, values) -> None:
    """Encoding the decoded data gives the same values and metadata, and the very same
    value bytes. (Not always the same payload: rsrv leaves whatever was in its buffer in
    padding bytes, after a string's NUL and in the RISC_pad members; libca does too.)"""
    payload, count = cc.encode_payload(message.data_type, values, metadata)
    assert count == message.data_count
    again_metadata, again = cc.decode_payload(message.data_type, payload, count)
    if metadata is None:
        assert again_metadata is None
    else:
        assert again_metadata.keys() == metadata.keys()
        for key, value in metadata.items():
            assert again_metadata[key] == value or (
                math.isnan(value) and math.isnan(again_metadata[key])), (message, key)
    layout = cc.dbr_type(message.data_type)
    if layout.native == ChannelType.STRING:
        assert again == values
    else:
        start = layout.metadata.size
        stop = start + count * cc.element_size(message.data_type)
        assert bytes(message.payload[start:stop]) == payload[start:stop], message


def test_large_messages_use_the_extended_header(connection):
    requests, responses = connection
    big = [m for m in requests + responses if m.extended]
    assert big, "the 20,000-element waveform should travel with extended headers"
    for message in big:
        assert message.data_count == 20_000
        assert len(message.payload) >= 0xFFFF
        assert bytes(message)[2:4] == b"\xff\xff" and bytes(message)[6:8] == b"\0\0"
    assert not any(m.extended for m in requests + responses
                   if len(m.payload) < 0xFFFF and m.data_count < 0xFFFF)


def test_the_gaps_in_the_capture_fall_inside_array_payloads(capture, connection):
    # The pcap reader fills bytes the capture lost with zeros; they must not touch a header.
    _, responses = connection
    for key, gaps in capture.gaps.items():
        assert key[0][1] == CA_SERVER_PORT
        for start, length in gaps:
            offset = 0
            for message in responses:
                size = len(bytes(message))
                header = 24 if message.extended else 16
                if offset <= start < offset + size:
                    assert start >= offset + header
                    assert start + length <= offset + size
                    assert message.data_count == 20_000
                offset += size


def test_constructors_write_what_libca_and_rsrv_wrote(capture, connection):
    """Every message without DBR data, rebuilt from its fields with its public
    constructor, gives the captured bytes; so does every write libca sent (its payloads
    have no leftover bytes, unlike rsrv's)."""
    requests, responses = connection
    datagram_messages = [m for src, dst, payload in capture.datagrams
                         for m in cc.read_datagram(payload, sender_role(src, dst))]
    rebuilt = Counter()
    for message in requests + responses + datagram_messages:
        cls = type(message)
        arguments = list(inspect.signature(cls).parameters)
        if isinstance(message, (cc.WriteRequest, cc.WriteNotifyRequest)):
            again = cls(message.data, message.data_type, message.sid, message.ioid,
                        metadata=message.metadata)
        elif isinstance(message, cc.DATA_MESSAGES):
            continue
        else:
            again = cls(**{name: getattr(message, name) for name in arguments})
        assert bytes(again) == bytes(message), message
        rebuilt[cls.__name__] += 1
    assert rebuilt["WriteNotifyRequest"] == 21 and rebuilt["SearchRequest"] == 28


def test_search_datagrams_as_libca_batches_them(capture):
    """Broadcaster.search_datagrams writes libca's search datagrams byte for byte, and
    the server side writes rsrv's answers."""
    client, server = cc.Broadcaster(cc.CLIENT), cc.Broadcaster(cc.SERVER)
    checked = 0
    for src, dst, payload in capture.datagrams:
        version, *rest = cc.read_datagram(payload, sender_role(src, dst))
        if isinstance(version, cc.VersionRequest):
            searches = [cc.SearchRequest(m.name, m.cid) for m in rest]
            assert client.search_datagrams(searches, version.sequence_id) == [payload]
        else:
            answers = [cc.SearchResponse(m.port, m.ip, m.cid) for m in rest]
            assert server.send(cc.VersionResponse(1, sequence_id=version.sequence_id),
                               *answers) == payload
        checked += 1
    assert checked == len(capture.datagrams) == 52


# --- what it means ------------------------------------------------------------------------------

def test_searches_name_the_channels_and_rsrv_answers_each(capture):
    searched, answered = {}, set()
    for src, dst, payload in capture.datagrams:
        for message in cc.read_datagram(payload, sender_role(src, dst)):
            if isinstance(message, cc.SearchRequest):
                searched[message.cid] = message.name
                assert message.reply == cc.SearchReply.DONT_REPLY
                assert message.version == cc.PROTOCOL_VERSION
            elif isinstance(message, cc.SearchResponse):
                answered.add(message.cid)
                assert message.port == CA_SERVER_PORT
                assert message.ip == "255.255.255.255"  # "the address this came from"
                assert message.version == cc.PROTOCOL_VERSION
            elif isinstance(message, (cc.VersionRequest, cc.VersionResponse)):
                assert message.version == cc.PROTOCOL_VERSION
    records = set(types_db())
    expected = records | {"cap:ai.DESC", "cap:ai.SCAN", "cap:mbbo.ZRST", "cap:lstr.VAL$",
                          "cap:does_not_exist"}
    assert set(searched.values()) == expected
    missing = {cid for cid, name in searched.items() if name == "cap:does_not_exist"}
    assert answered == set(searched) - missing


def test_native_types_of_the_channels(connection, names):
    _, responses = connection
    by_cid, _ = names
    native = {by_cid[m.cid]: (ChannelType(m.data_type), m.data_count)
              for m in responses if isinstance(m, cc.CreateChanResponse)}
    assert len(native) == 24
    assert native["cap:ai"] == (ChannelType.DOUBLE, 1)
    assert native["cap:long"] == (ChannelType.LONG, 1)
    assert native["cap:int64"] == (ChannelType.DOUBLE, 1)  # no 64-bit type in CA
    assert native["cap:bo"] == (ChannelType.ENUM, 1)
    assert native["cap:mbbo"] == (ChannelType.ENUM, 1)
    assert native["cap:str"] == (ChannelType.STRING, 1)
    assert native["cap:ai.DESC"] == (ChannelType.STRING, 1)
    assert native["cap:ai.SCAN"] == (ChannelType.ENUM, 1)
    assert native["cap:lstr.VAL$"] == (ChannelType.CHAR, 1024)  # SIZV
    # Waveforms: FTVL decides the type, NELM the count; CA has no unsigned 16/32-bit
    # types, so rsrv widens them.
    waveforms = {"cap:wchar": (ChannelType.CHAR, 256), "cap:wuchar": (ChannelType.CHAR, 256),
                 "cap:wshort": (ChannelType.INT, 100), "cap:wushort": (ChannelType.LONG, 100),
                 "cap:wlong": (ChannelType.LONG, 100), "cap:wulong": (ChannelType.DOUBLE, 100),
                 "cap:wfloat": (ChannelType.FLOAT, 100), "cap:wdouble": (ChannelType.DOUBLE, 100),
                 "cap:wstring": (ChannelType.STRING, 10), "cap:wenum": (ChannelType.ENUM, 10),
                 "cap:wbig": (ChannelType.DOUBLE, 20_000)}
    for name, expected in waveforms.items():
        assert native[name] == expected, name
        assert int(types_db()[name]["NELM"]) == expected[1]
    access = {m.access_rights for m in responses if isinstance(m, cc.AccessRightsResponse)}
    assert access == {cc.AccessRights.READ_WRITE}


def test_enum_strings_of_mbbo_and_bo_as_in_types_db(connection, names):
    db = types_db()
    mbbo = tuple(db["cap:mbbo"][f] for f in ("ZRST", "ONST", "TWST", "THST"))
    for data_type in (ChannelType.GR_ENUM, ChannelType.CTRL_ENUM):
        first = answers(connection, names, "cap:mbbo", data_type)[0]
        assert first.metadata["enum_strs"] == mbbo == ("Zero", "One", "Two", "Three")
        assert first.data.tolist() == [int(db["cap:mbbo"]["VAL"])]
        bo = answers(connection, names, "cap:bo", data_type)[0]
        assert bo.metadata["enum_strs"] == (db["cap:bo"]["ZNAM"], db["cap:bo"]["ONAM"])
    # As a string, an enum reads as its state's text.
    assert answers(connection, names, "cap:mbbo", ChannelType.STRING)[0].data == ["Two"]
    assert answers(connection, names, "cap:bo", ChannelType.STRING)[0].data == ["On"]


def test_ai_display_and_control_metadata_as_in_types_db(connection, names):
    ai = types_db()["cap:ai"]
    ctrl = answers(connection, names, "cap:ai", ChannelType.CTRL_DOUBLE)[0]
    metadata = ctrl.metadata
    assert ctrl.data.tolist() == [float(ai["VAL"])]
    assert metadata["precision"] == int(ai["PREC"])
    assert metadata["units"] == ai["EGU"]
    assert metadata["upper_disp_limit"] == float(ai["HOPR"])
    assert metadata["lower_disp_limit"] == float(ai["LOPR"])
    assert metadata["upper_alarm_limit"] == float(ai["HIHI"])
    assert metadata["upper_warning_limit"] == float(ai["HIGH"])
    assert metadata["lower_warning_limit"] == float(ai["LOW"])
    assert metadata["lower_alarm_limit"] == float(ai["LOLO"])
    assert (metadata["status"], metadata["severity"]) == (0, 0)
    gr_long = answers(connection, names, "cap:ai", ChannelType.GR_LONG)[0]
    assert gr_long.metadata["upper_alarm_limit"] == 90 and gr_long.data.tolist() == [3]
    as_string = answers(connection, names, "cap:ai", ChannelType.STRING)[0]
    assert as_string.data == [f"{float(ai['VAL']):.{ai['PREC']}f}"]  # PREC digits


def test_time_double_has_a_plausible_timestamp(connection, names):
    for message in answers(connection, names, "cap:ai", ChannelType.TIME_DOUBLE):
        metadata = message.metadata
        assert 0 <= metadata["nanoseconds"] < 1_000_000_000
        # 2020-01-01 .. 2040-01-01, as POSIX time.
        assert 1_577_836_800 < metadata["timestamp"] < 2_208_988_800
        assert metadata["timestamp"] == pytest.approx(
            metadata["seconds"] + cc.EPICS_EPOCH_OFFSET + metadata["nanoseconds"] / 1e9)
        assert message.data.tolist() == [3.25]


def test_other_values_as_in_types_db(connection, names):
    db = types_db()
    for data_type in (ChannelType.STRING, ChannelType.STS_STRING, ChannelType.TIME_STRING,
                      ChannelType.GR_STRING, ChannelType.CTRL_STRING):
        # GR_STRING and CTRL_STRING have the STS_STRING layout (status, severity, value).
        assert answers(connection, names, "cap:str", data_type)[0].data == [
            db["cap:str"]["VAL"]], data_type.name
    assert cc.dbr_type(ChannelType.CTRL_STRING).metadata.size == 4
    long = answers(connection, names, "cap:long", ChannelType.CTRL_LONG)[0]
    assert long.data.tolist() == [int(db["cap:long"]["VAL"])]
    assert long.metadata["units"] == db["cap:long"]["EGU"]
    assert long.metadata["upper_disp_limit"] == int(db["cap:long"]["HOPR"])
    assert long.metadata["lower_disp_limit"] == int(db["cap:long"]["LOPR"])
    ao = answers(connection, names, "cap:ao", ChannelType.CTRL_DOUBLE)[0].metadata
    assert (ao["upper_ctrl_limit"], ao["lower_ctrl_limit"]) == (
        float(db["cap:ao"]["DRVH"]), float(db["cap:ao"]["DRVL"]))
    assert ao["precision"] == int(db["cap:ao"]["PREC"]) and ao["units"] == "V"
    # longout has no PINI here: the record never processed and reads with status UDF.
    sts = answers(connection, names, "cap:long", ChannelType.STS_LONG)[0].metadata
    assert cc.AlarmStatus(sts["status"]) == cc.AlarmStatus.UDF


def test_refused_reads_are_read_responses_with_an_eca_status(connection, names):
    # rsrv refuses e.g. a string record read as a number: READ_NOTIFY with ECA_GETFAIL,
    # no elements, and the metadata structure (zeroed) as payload.
    _, responses = connection
    refused = [m for m in responses if isinstance(m, cc.ReadNotifyResponse)
               and m.status != cc.EcaStatus.ECA_NORMAL]
    assert refused
    for message in refused:
        assert message.status == cc.EcaStatus.ECA_GETFAIL
        assert not cc.eca_succeeded(message.status)
        assert message.data_count == 0 and len(message.data) == 0
        assert len(message.payload) == cc.payload_size(message.data_type, 0)
    requests, _ = connection
    _, by_sid = names
    asked = {m.ioid: (by_sid[m.sid], m.data_type) for m in requests
             if isinstance(m, cc.ReadNotifyRequest)}
    refused_by_name = {}
    for message in refused:
        name, data_type = asked[message.ioid]
        assert message.data_type == data_type
        refused_by_name.setdefault(name, set()).add(cc.native_type(data_type))
    # Text that is not a number cannot be read as one; an enum waveform cannot be read
    # as strings.
    numbers = set(cc.NATIVE_TYPES) - {ChannelType.STRING}
    assert refused_by_name == {
        "cap:str": numbers, "cap:lstr": numbers, "cap:wstring": numbers,
        "cap:mbbo.ZRST": numbers - {ChannelType.ENUM},
        "cap:ai.DESC": {ChannelType.ENUM}, "cap:wenum": {ChannelType.STRING}}


def test_puts_and_monitor_updates(connection, names):
    requests, responses = connection
    _, by_sid = names
    writes = {by_sid[m.sid]: m for m in requests if isinstance(m, cc.WriteNotifyRequest)}
    assert writes["cap:wstring"].data == ["alpha", "beta", "gamma delta", ""]
    assert writes["cap:wenum"].data.tolist() == [0, 1, 2, 3]
    assert writes["cap:wbig"].data_count == 20_000
    assert [m.data.tolist() for m in requests if isinstance(m, cc.WriteRequest)] == [[2.5]]
    # The alarm transition: cap:ai written to 95 goes over HIHI (90), a MAJOR alarm.
    updates = [m for m in responses if isinstance(m, cc.EventAddResponse)
               and m.data_type == ChannelType.TIME_DOUBLE and m.data_count == 1
               and m.data.tolist() == [95.0]]
    assert updates
    metadata = updates[0].metadata
    assert cc.AlarmStatus(metadata["status"]) == cc.AlarmStatus.HIHI
    assert cc.AlarmSeverity(metadata["severity"]) == cc.AlarmSeverity.MAJOR_ALARM
    # Every write with completion was confirmed with its ioid, every cancel acknowledged.
    confirmed = {m.ioid for m in responses if isinstance(m, cc.WriteNotifyResponse)}
    assert confirmed == {m.ioid for m in writes.values()} | {
        m.ioid for m in requests if isinstance(m, cc.WriteNotifyRequest)}
    cancelled = {m.subscriptionid for m in requests if isinstance(m, cc.EventCancelRequest)}
    acked = {m.subscriptionid for m in responses if isinstance(m, cc.EventCancelResponse)}
    assert cancelled == acked and len(cancelled) == 21
    big = [m for m in responses if isinstance(m, cc.EventAddResponse) and m.data_count == 20_000]
    assert big and all(isinstance(m.data, numpy.ndarray) and m.data.dtype == numpy.float64
                       for m in big)


def test_message_census(connection):
    requests, responses = connection
    assert Counter(type(m).__name__ for m in requests) == Counter(
        ReadNotifyRequest=866, CreateChanRequest=24, ClearChannelRequest=24,
        EventAddRequest=21, WriteNotifyRequest=21, EventCancelRequest=21, VersionRequest=1,
        ClientNameRequest=1, HostNameRequest=1, WriteRequest=1)
    assert Counter(type(m).__name__ for m in responses) == Counter(
        ReadNotifyResponse=866, EventAddResponse=51, AccessRightsResponse=24,
        CreateChanResponse=24, ClearChannelResponse=24, WriteNotifyResponse=21,
        EventCancelResponse=21, VersionResponse=1)
    read_types = {m.data_type for m in requests if isinstance(m, cc.ReadNotifyRequest)}
    assert read_types == set(range(35))


# --- through the state machines, in capture order -----------------------------------------------

def segments_in_capture_order(path):
    """(direction key, end offset in that direction's stream) of each TCP segment with a
    payload, in the order they were captured (which ``read_pcap`` does not keep)."""
    first_byte = {}
    with open(path, "rb") as file:
        for packet in pcap.packets(file):
            if packet.protocol != "tcp":
                continue
            key = (packet.source, packet.destination)
            if packet.syn:
                first_byte[key] = packet.seq + 1
            if packet.payload:
                yield key, (packet.seq - first_byte[key]) % 2**32 + len(packet.payload)


def test_both_circuits_accept_the_whole_conversation_in_capture_order(capture, connection):
    """A server circuit recv()s libca's bytes and send()s rsrv's messages; a client circuit
    send()s libca's messages and recv()s rsrv's bytes; both in the order they were
    captured, segment by segment, so that incomplete messages are buffered too."""
    ((client_addr, server_addr, to_server, to_client),) = capture.connections()
    requests, responses = connection
    server = cc.VirtualCircuit(cc.SERVER, client_addr, max_payload_size=MAX_ARRAY_BYTES)
    client = cc.VirtualCircuit(cc.CLIENT, server_addr, max_payload_size=MAX_ARRAY_BYTES)
    streams = {(client_addr, server_addr): to_server, (server_addr, client_addr): to_client}
    pending = {(client_addr, server_addr): _with_ends(requests),
               (server_addr, client_addr): _with_ends(responses)}
    received = {key: 0 for key in streams}
    channels = {}
    for key, end in segments_in_capture_order(CAPTURE):
        if end <= received[key]:
            continue  # a retransmission
        chunk = streams[key][received[key]:end]
        received[key] = end
        complete = []
        while pending[key] and pending[key][0][0] <= end:
            complete.append(pending[key].pop(0)[1])
        if key[1] == server_addr:  # libca -> rsrv
            assert server.recv(chunk) is not None
            for message in complete:
                if isinstance(message, cc.CreateChanRequest):
                    channels[message.cid] = client.new_channel(message.name, message.cid)
                client.send(message)
        else:  # rsrv -> libca
            if complete:
                server.send(*complete)
            client.recv(chunk)
    assert not any(pending.values())
    assert received == {key: len(stream) for key, stream in streams.items()}
    for circuit in (server, client):
        assert circuit.state is cc.CircuitState.CONNECTED
        assert circuit.channels == {} and circuit.channels_by_sid == {}
        assert circuit.pending_requests() == {}
        assert circuit.buffered == 0 and circuit.next_message_size() is None
    assert len(channels) == 24
    assert {channel.state for channel in channels.values()} == {cc.ChannelState.CLOSED}
    assert all(not channel.subscriptions for channel in channels.values())


def test_a_server_circuit_serves_the_whole_client_stream(capture, connection):
    """A server circuit recv()s libca's stream, message by message and each in two pieces,
    and answers every request itself (accept_channel with rsrv's sids, a response for
    every read, write-notify, subscription, cancel and clear): no protocol error, and
    every channel cleared at the end."""
    ((client_addr, _, to_server, _),) = capture.connections()
    requests, responses = connection
    sids = {m.cid: (m.sid, m.data_type, m.data_count) for m in responses
            if isinstance(m, cc.CreateChanResponse)}
    server = cc.VirtualCircuit(cc.SERVER, client_addr, max_payload_size=MAX_ARRAY_BYTES)
    server.send(cc.VersionResponse(priority=0))
    offset = 0
    for request in requests:
        raw = to_server[offset:offset + len(bytes(request))]
        offset += len(raw)
        half = len(raw) // 2
        assert server.recv(raw[:half]) == []
        assert server.buffered == half
        (received,) = server.recv(raw[half:])
        assert received == request and server.buffered == 0
        server.send(*_answer(server, received, sids))
    assert offset == len(to_server)
    assert server.channels == {} and server.pending_requests() == {}
    assert server.state is cc.CircuitState.CONNECTED


def _answer(server, request, sids):
    """What a server sends back for ``request``."""
    if isinstance(request, cc.CreateChanRequest):
        sid, data_type, data_count = sids[request.cid]
        channel = server.channels[request.cid]
        assert channel.name == request.name
        return server.accept_channel(channel, sid, data_type, data_count)
    channel = server.channels_by_sid.get(getattr(request, "sid", None))
    count = (request.data_count or channel.native_data_count) if channel else 0
    zeros = ([""] if cc.native_type(request.data_type) == ChannelType.STRING else [0]) * count \
        if channel else None
    if isinstance(request, cc.ReadNotifyRequest):
        return [cc.ReadNotifyResponse(zeros, request.data_type, request.ioid)]
    if isinstance(request, cc.WriteNotifyRequest):
        return [cc.WriteNotifyResponse(request.data_type, request.data_count, request.ioid)]
    if isinstance(request, cc.EventAddRequest):
        return [cc.EventAddResponse(zeros, request.data_type, request.subscriptionid)]
    if isinstance(request, cc.EventCancelRequest):
        return [cc.EventCancelResponse(request.data_type, request.data_count, request.sid,
                                       request.subscriptionid)]
    if isinstance(request, cc.ClearChannelRequest):
        return [cc.ClearChannelResponse(request.sid, request.cid)]
    return []


def _with_ends(messages):
    ends, offset = [], 0
    for message in messages:
        offset += len(bytes(message))
        ends.append((offset, message))
    return ends


def test_floats_in_the_capture_are_finite_or_nan_limits(connection):
    # rsrv sends NaN for alarm limits a record type does not have (longout, bo, mbbo).
    _, responses = connection
    nan_limits = [m for m in responses if isinstance(m, cc.ReadNotifyResponse)
                  and m.status == 1 and m.metadata and any(
                      isinstance(v, float) and math.isnan(v) for v in m.metadata.values())]
    assert nan_limits
    assert all(m.data_type in (ChannelType.GR_DOUBLE, ChannelType.CTRL_DOUBLE,
                               ChannelType.GR_FLOAT, ChannelType.CTRL_FLOAT)
               for m in nan_limits)
