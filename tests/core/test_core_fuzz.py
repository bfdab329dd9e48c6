"""Fuzzing the readers: whatever arrives, only messages or a ProtocolError come out.

Arbitrary bytes, valid messages truncated or with bytes changed, unknown commands, bad
data types, counts that do not fit the payload, headers announcing up to 4 GB: the
readers (read_stream, read_datagram, VirtualCircuit.recv, Broadcaster.recv) either return
messages or raise caproto_core.ProtocolError, and so do .decode(), .data, .metadata,
repr() and the named fields of every message they return. Never struct.error,
IndexError, KeyError, UnicodeDecodeError, a hang, or a 4 GB allocation.
"""
from __future__ import annotations

import struct
import time
from datetime import timedelta
import tracemalloc

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import caproto_core as cc
from caproto_core._messages import HEADER
from test_core_roundtrip import DATA_CLASSES, MESSAGE_KWARGS, metadata_strategy, \
    values_strategy

ROLES = [cc.CLIENT, cc.SERVER]
#: Each example is a few hundred bytes: one second is far more than any needs, and
#: catches a reader that loops or waits.
FUZZ = settings(max_examples=300, deadline=timedelta(seconds=1),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


# --- strategies -----------------------------------------------------------------------------------

@st.composite
def valid_messages(draw) -> cc.Message:
    """Any message the core can build, data messages included."""
    cls = draw(st.sampled_from(sorted(set(MESSAGE_KWARGS) | set(DATA_CLASSES),
                                      key=lambda c: c.__name__)))
    if cls in DATA_CLASSES:
        type_id = draw(st.sampled_from(sorted(cc.DBR_TYPES)))
        values = draw(values_strategy(type_id, max_count=4))
        metadata = draw(metadata_strategy(type_id))
        return cls(values, type_id, 1, 2, metadata=metadata)
    return cls(**draw(st.fixed_dictionaries(MESSAGE_KWARGS[cls])))


def headers(command=st.integers(0, 0xFFFF), size=st.integers(0, 0xFFFF),
            data_type=st.integers(0, 0xFFFF), count=st.integers(0, 0xFFFF)):
    """A 16-byte header, with an extended part when the size field says so."""
    u32 = st.integers(0, 0xFFFFFFFF)

    @st.composite
    def build(draw):
        fields = (draw(command), draw(size), draw(data_type), draw(count), draw(u32),
                  draw(u32))
        raw = HEADER.pack(*fields)
        if fields[1] == 0xFFFF:
            raw += struct.pack(">II", draw(st.one_of(u32, st.integers(0, 64))), draw(u32))
        return raw
    return build()


#: Headers that look like CA (known commands, plausible sizes) followed by junk.
ca_like = st.lists(st.tuples(headers(command=st.integers(0, 30), size=st.sampled_from(
    [0, 8, 16, 40, 0xFFFF]), data_type=st.integers(0, 45), count=st.integers(0, 20)),
    st.binary(max_size=48)), max_size=6).map(lambda parts: b"".join(h + b for h, b in parts))


# --- checking what comes out ---------------------------------------------------------------------

def exercise(message: cc.Message) -> None:
    """Touch everything a user might touch; only ProtocolError may come out."""
    repr(message)
    bytes(message)
    for name in type(message).FIELDS:
        getattr(message, name)
    if isinstance(message, cc.DATA_MESSAGES):
        for use_numpy in (True, False):
            try:
                message.decode(use_numpy=use_numpy)
            except cc.ProtocolError:
                pass
        for name in ("data", "metadata"):
            try:
                getattr(message, name)
            except cc.ProtocolError:
                pass
    if isinstance(message, cc.ErrorResponse):
        repr(message.original_request)
        message.error_message


def read_all(data: bytes, role, max_payload_size=None) -> list[cc.Message]:
    """read_stream, and the checks every outcome must pass."""
    try:
        messages, consumed = cc.read_stream(data, role, max_payload_size)
    except cc.ProtocolError:
        return []
    assert 0 <= consumed <= len(data)
    # What was accepted serialises back to exactly the bytes it came from.
    assert b"".join(bytes(m) for m in messages) == bytes(data[:consumed])
    for message in messages:
        exercise(message)
    return messages


# --- arbitrary bytes -------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
@FUZZ
@given(data=st.one_of(st.binary(max_size=400), ca_like))
@example(data=b"")
@example(data=HEADER.pack(15, 0xFFFF, 6, 0, 1, 1) + struct.pack(">II", 8, 1) + bytes(8))
def test_read_stream_on_arbitrary_bytes(role, data):
    read_all(data, role)
    read_all(data, role, max_payload_size=64)
    read_all(bytearray(data), role)
    read_all(memoryview(data), role)


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
@FUZZ
@given(data=st.one_of(st.binary(max_size=400), ca_like))
def test_read_datagram_and_broadcaster_on_arbitrary_bytes(role, data):
    try:
        messages = cc.read_datagram(data, role)
    except cc.ProtocolError:
        messages = None
    else:
        assert b"".join(bytes(m) for m in messages) == data
        for message in messages:
            exercise(message)
    receiver = cc.Broadcaster(cc.SERVER if role is cc.CLIENT else cc.CLIENT)
    try:
        assert receiver.recv(data, ("127.0.0.1", 5064)) == messages
    except cc.ProtocolError:
        assert messages is None


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
@settings(FUZZ, max_examples=150)
@given(chunks=st.lists(st.one_of(st.binary(max_size=100), ca_like), max_size=5),
       connect=st.booleans())
def test_virtual_circuit_recv_on_arbitrary_bytes(role, chunks, connect):
    """The receiving side of a circuit: messages, or ProtocolError (then it is done)."""
    circuit = cc.VirtualCircuit(role, ("127.0.0.1", 5064))
    if connect:
        first = cc.VersionRequest() if role is cc.CLIENT else cc.VersionResponse()
        if role is cc.CLIENT:
            circuit.send(first)
        else:
            circuit.recv(bytes(cc.VersionRequest()))
    for chunk in chunks:
        try:
            messages = circuit.recv(chunk)
        except cc.ProtocolError:
            return
        for message in messages:
            exercise(message)
        circuit.next_message_size()


# --- valid messages, damaged -------------------------------------------------------------------------

@FUZZ
@given(message=valid_messages(), cut=st.integers(0, 10**6))
def test_truncated_valid_messages_wait_or_fail_cleanly(message, cut):
    raw = bytes(message)
    cut = 1 + cut % (len(raw) - 1)  # at least one byte, not all of them
    truncated = raw[:cut]
    # A stream just waits for the rest: nothing parsed, nothing consumed.
    assert cc.read_stream(truncated, message.ROLE) == ([], 0)
    # ... and parses it when it comes, even one byte at a time at the end.
    circuit_role_ok = cc.read_stream(truncated + raw[cut:], message.ROLE)
    assert circuit_role_ok[1] == len(raw)
    # A datagram cannot be completed later: that is an error, saying where.
    with pytest.raises(cc.RemoteProtocolError, match=r"incomplete message at offset 0"):
        cc.read_datagram(truncated, message.ROLE)


@FUZZ
@given(messages=st.lists(valid_messages(), min_size=1, max_size=4), data=st.data())
def test_valid_messages_with_changed_bytes(messages, data):
    raw = bytearray(b"".join(bytes(m) for m in messages))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] = data.draw(st.integers(0, 255))
    for role in ROLES:
        read_all(bytes(raw), role)


@FUZZ
@given(messages=st.lists(valid_messages(), min_size=1, max_size=5), data=st.data())
def test_a_stream_split_anywhere_reads_the_same(messages, data):
    role = messages[0].ROLE
    messages = [m for m in messages if m.ROLE is role]
    raw = b"".join(bytes(m) for m in messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=6)))
    got, buffer = [], b""
    for start, stop in zip([0] + cuts, cuts + [len(raw)]):
        buffer += raw[start:stop]
        parsed, consumed = cc.read_stream(buffer, role)
        got += parsed
        buffer = buffer[consumed:]
    assert got == messages and buffer == b""


# --- headers that lie -------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
@settings(FUZZ, max_examples=100)
@given(header=headers(size=st.just(0xFFFF)), extra=st.binary(max_size=64))
def test_huge_announced_payloads_are_not_waited_for_in_memory(role, header, extra):
    data = header + extra
    try:
        messages, consumed = cc.read_stream(data, role)
    except cc.ProtocolError:
        return
    assert consumed <= len(data)


@pytest.mark.parametrize("command,role", [(cc.Command.READ_NOTIFY, cc.SERVER),
                                          (cc.Command.EVENT_ADD, cc.SERVER),
                                          (cc.Command.WRITE_NOTIFY, cc.CLIENT),
                                          (cc.Command.SEARCH, cc.CLIENT),
                                          (cc.Command.ECHO, cc.CLIENT)])
def test_a_4gb_header_allocates_nothing(command, role):
    header = HEADER.pack(command, 0xFFFF, cc.ChannelType.CHAR, 0, 1, 1) + struct.pack(
        ">II", 0xFFFFFFF8, 0xFFFFFFF8)
    tracemalloc.start()
    try:
        started = time.perf_counter()
        assert cc.read_stream(header + bytes(1000), role) == ([], 0)
        assert cc.message_size(header) == 24 + 0xFFFFFFF8
        with pytest.raises(cc.RemoteProtocolError,
                           match=r"announces a payload of 4294967288 bytes, more than the "
                                 r"maximum of 16384"):
            cc.read_stream(header, role, max_payload_size=16384)
        circuit = cc.VirtualCircuit(role, ("127.0.0.1", 5064))
        with pytest.raises(cc.RemoteProtocolError, match="4294967288 bytes"):
            circuit.recv(header)
        with pytest.raises(cc.RemoteProtocolError, match="incomplete message"):
            cc.read_datagram(header, role)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, f"{peak} bytes allocated for a header announcing 4 GB"
    assert elapsed < 1.0


def test_a_circuit_waits_for_a_large_message_without_copying_it_over_and_over():
    """A message arriving in many small pieces costs about one copy, not one per piece."""
    message = cc.ReadNotifyResponse(bytes(4_000_000), cc.ChannelType.CHAR, ioid=1)
    raw = bytes(message)
    circuit = cc.VirtualCircuit(cc.CLIENT, ("127.0.0.1", 5064), max_payload_size=2**23)
    circuit.send(cc.VersionRequest())
    channel = circuit.new_channel("x", cid=1)
    circuit.send(channel.create())
    circuit.recv(bytes(cc.CreateChanResponse(cc.ChannelType.CHAR, 4_000_000, 1, 9)))
    circuit.send(channel.read(ioid=1))
    started = time.perf_counter()
    for start in range(0, len(raw), 1000):
        got = circuit.recv(raw[start:start + 1000])
        if start == 0:
            assert circuit.next_message_size() == len(raw)
    elapsed = time.perf_counter() - started
    assert got == [message] and circuit.buffered == 0
    assert elapsed < 1.0, f"{elapsed:.2f} s for 4,000 pieces of one message"


def test_take_partial_hands_over_the_start_of_a_large_message():
    message = cc.ReadNotifyResponse(bytes(100_000), cc.ChannelType.CHAR, ioid=1)
    raw = bytes(message)
    circuit = cc.VirtualCircuit(cc.CLIENT, ("127.0.0.1", 5064), max_payload_size=2**20)
    circuit.send(cc.VersionRequest())
    channel = circuit.new_channel("x", cid=1)
    circuit.send(channel.create())
    circuit.recv(bytes(cc.CreateChanResponse(cc.ChannelType.CHAR, 100_000, 1, 9)))
    circuit.send(channel.read(ioid=1))
    assert circuit.recv(raw[:10]) == [] and circuit.next_message_size() is None
    assert circuit.recv(raw[10:30]) == [] and circuit.next_message_size() == len(raw)
    partial = circuit.take_partial()
    assert partial == raw[:30] and circuit.buffered == 0
    whole = bytearray(len(raw))  # what an I/O layer fills with recv_into
    whole[:30] = partial
    whole[30:] = raw[30:]
    (got,) = circuit.recv(memoryview(whole))
    assert got == message and got.data.nbytes == 100_000


# --- specific bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
def test_every_command_code_is_read_or_refused(role):
    table = cc.REQUESTS if role is cc.CLIENT else cc.RESPONSES
    for command in list(range(64)) + [0xFFFE, 0xFFFF]:
        raw = HEADER.pack(command, 8, 0, 1, 0, 0) + bytes(8)
        if command in table:
            (message,) = read_all(raw, role) or [None]
            assert message is None or message.ID == command
        else:
            with pytest.raises(cc.RemoteProtocolError, match=f"{command}"):
                cc.read_stream(raw, role)


@pytest.mark.parametrize("cls", DATA_CLASSES, ids=lambda c: c.__name__)
@settings(FUZZ, max_examples=100)
@given(data_type=st.integers(0, 0xFFFF), count=st.integers(0, 0xFFFFFFFF),
       size=st.integers(0, 256))
def test_data_headers_with_any_type_and_count(cls, data_type, count, size):
    """A data message is accepted only when its payload holds what its header says."""
    header = HEADER.pack(cls.ID, 0xFFFF, data_type, 0, 1, 2) + struct.pack(">II", size,
                                                                          count)
    raw = header + bytes(size)
    try:
        messages, _ = cc.read_stream(raw, cls.ROLE)
    except cc.RemoteProtocolError as exc:
        assert cls.__name__ in str(exc) and "offset 0" in str(exc)
        return
    (message,) = messages
    if size == 0 and cls is cc.EventAddResponse:
        assert type(message) is cc.EventCancelResponse
        return
    assert data_type in cc.DBR_TYPES
    metadata, values = message.decode()  # must not raise: the reader checked the sizes
    assert len(values) == count


def test_decoding_a_message_whose_count_lies():
    liar = cc.ReadNotifyResponse([1.0], cc.ChannelType.DOUBLE, ioid=1, data_count=5)
    with pytest.raises(cc.RemoteProtocolError,
                       match=r"ReadNotifyResponse: DOUBLE payload of 8 bytes is too short for "
                             r"5 element\(s\): 40 bytes needed"):
        liar.data
    assert "undecodable" in repr(liar)
    # The reader refuses the same bytes before anyone decodes them.
    with pytest.raises(cc.RemoteProtocolError, match="expected at least 40 bytes"):
        cc.read_stream(bytes(liar), cc.SERVER)
