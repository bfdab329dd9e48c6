"""Round trips through the core: message -> bytes -> reader -> the same message.

Every message class is built from hypothesis strategies, serialised, read back with the
reader of the role that sends it, and must come back equal, with the same bytes and the
same field values. Every DBR type 0..38 goes through encode_payload/decode_payload and
through the data messages, at the edges that matter: counts 0, 1, 0xFFFE, 0xFFFF and
100,000 (the extended header from 0xFFFF on), 39- and 40-byte strings, non-ASCII text,
type limits, NaN and infinities, 16 enum strings of 25 bytes, 7-byte units; with numpy
and without it.
"""
from __future__ import annotations

import array
import inspect
import math
import struct
import subprocess
import sys

import numpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import caproto_core as cc
from caproto_core import _dbr
from caproto_core._messages import HEADER
from paths import ROOT

ChannelType = cc.ChannelType

# --- strategies -----------------------------------------------------------------------------

u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
#: Counts of requests: the 32-bit range, with the extended-header edges drawn often.
counts = st.one_of(st.sampled_from([0, 1, 0xFFFE, 0xFFFF, 0x10000, 100_000, 0xFFFFFFFF]),
                   u32)
type_ids = st.sampled_from(sorted(cc.DBR_TYPES))
addresses = st.one_of(u32, st.tuples(*[st.integers(0, 255)] * 4).map(
    lambda parts: ".".join(map(str, parts))))
#: Text a name or a DBR string can carry: no NUL (it ends the string on the wire) and no
#: lone surrogates (they have no bytes); anything else, ASCII or not.
text_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")


def text_fitting(max_bytes: int, min_size: int = 0) -> st.SearchStrategy[str]:
    """Text whose UTF-8 form is at most ``max_bytes`` long."""
    return st.text(text_chars, min_size=min_size, max_size=max_bytes).filter(
        lambda s: len(s.encode("utf-8")) <= max_bytes)


names = text_fitting(120)
float32s = st.floats(width=32, allow_nan=True, allow_infinity=True)


def _version(cls):
    return st.builds(cls, priority=u16, version=u16, sequence_id=u32)


def _request_header_messages():
    """Requests as an ErrorResponse quotes them (the header only)."""
    return st.one_of(
        st.builds(cc.ReadNotifyRequest, data_type=type_ids, data_count=u16, sid=u32, ioid=u32),
        st.builds(cc.EventAddRequest, data_type=type_ids, data_count=u16, sid=u32,
                  subscriptionid=u32),
        st.builds(cc.CreateChanRequest, name=names, cid=u32),
        st.builds(cc.ClearChannelRequest, sid=u32, cid=u32),
    )


#: kwargs for the constructor of each message class that carries no DBR data.
MESSAGE_KWARGS = {
    cc.VersionRequest: dict(priority=u16, version=u16, sequence_id=u32),
    cc.VersionResponse: dict(priority=u16, version=u16, sequence_id=u32),
    cc.SearchRequest: dict(name=names, cid=u32, version=u16,
                           reply=st.sampled_from(list(cc.SearchReply))),
    cc.SearchResponse: dict(port=u16, ip=addresses, cid=u32, version=u16),
    cc.NotFoundResponse: dict(cid=u32, version=u16, reply=st.sampled_from(list(cc.SearchReply))),
    cc.CreateChanRequest: dict(name=names, cid=u32, version=u32),
    cc.CreateChanResponse: dict(data_type=type_ids, data_count=u32, cid=u32, sid=u32),
    cc.AccessRightsResponse: dict(cid=u32, access_rights=st.sampled_from(list(cc.AccessRights))),
    cc.CreateChFailResponse: dict(cid=u32),
    cc.ServerDisconnResponse: dict(cid=u32),
    cc.ClearChannelRequest: dict(sid=u32, cid=u32),
    cc.ClearChannelResponse: dict(sid=u32, cid=u32),
    cc.ReadNotifyRequest: dict(data_type=type_ids, data_count=counts, sid=u32, ioid=u32),
    cc.WriteNotifyResponse: dict(data_type=type_ids, data_count=counts, ioid=u32,
                                 status=st.sampled_from(list(cc.EcaStatus))),
    cc.EventAddRequest: dict(data_type=type_ids, data_count=counts, sid=u32, subscriptionid=u32,
                             mask=st.integers(0, 15), low=float32s, high=float32s, to=float32s),
    cc.EventCancelRequest: dict(data_type=type_ids, data_count=counts, sid=u32,
                                subscriptionid=u32),
    cc.EventCancelResponse: dict(data_type=type_ids, data_count=counts, sid=u32,
                                 subscriptionid=u32),
    cc.EventsOffRequest: {},
    cc.EventsOnRequest: {},
    cc.ReadSyncRequest: {},
    cc.EchoRequest: {},
    cc.EchoResponse: {},
    cc.ErrorResponse: dict(original_request=_request_header_messages(), cid=u32,
                           status=st.sampled_from(list(cc.EcaStatus)),
                           error_message=st.one_of(st.none(), text_fitting(200))),
    cc.ClientNameRequest: dict(name=names),
    cc.HostNameRequest: dict(name=names),
    cc.RsrvIsUpResponse: dict(version=u16, server_port=u16, beacon_id=u32, address=addresses),
    cc.RepeaterRegisterRequest: dict(client_address=addresses),
    cc.RepeaterConfirmResponse: dict(repeater_address=addresses),
}
DATA_CLASSES = (cc.ReadNotifyResponse, cc.EventAddResponse, cc.WriteRequest,
                cc.WriteNotifyRequest)


def all_message_classes():
    """Every concrete message class the package exports."""
    return {obj for obj in vars(cc).values()
            if isinstance(obj, type) and issubclass(obj, cc.Message) and "ROLE" in dir(obj)}


def test_every_message_class_is_covered():
    assert all_message_classes() == set(MESSAGE_KWARGS) | set(DATA_CLASSES)
    # ... and every command a peer may send is read as one of them.
    assert set(cc.REQUESTS.values()) | set(cc.RESPONSES.values()) <= all_message_classes()


# --- value comparison ---------------------------------------------------------------------------

def same_value(a, b) -> bool:
    """Equality where NaN equals NaN (the wire has no other notion)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def _as_address(value) -> str:
    return cc.int_to_address(value) if isinstance(value, int) else value


def expected_field(cls, name, value):
    """What the property ``name`` reads as after constructing with ``name=value``."""
    if name in ("ip", "address", "client_address", "repeater_address"):
        return _as_address(value)
    if name == "error_message" and value is None:
        return None  # filled in from the status; checked separately
    if name in ("low", "high", "to"):
        return struct.unpack(">f", struct.pack(">f", value))[0]
    if name == "original_request":
        return None  # quoted by header only; checked in the test
    return value


def read_back(message: cc.Message, role=None) -> cc.Message:
    """The one message that ``bytes(message)`` reads as, checked for exactness."""
    raw = bytes(message)
    messages, consumed = cc.read_stream(raw, role or message.ROLE)
    assert consumed == len(raw)
    assert len(messages) == 1
    (again,) = messages
    assert bytes(again) == raw
    assert b"".join(bytes(b) for b in message.buffers()) == raw
    return again


def check_header_form(message: cc.Message) -> None:
    """Extended header exactly when a size or count does not fit 16 bits (or 0xFFFF)."""
    raw = bytes(message)
    command, size16, _, count16, _, _ = HEADER.unpack_from(raw)
    assert command == message.ID
    big = len(message.payload) >= 0xFFFF or message.data_count >= 0xFFFF
    assert message.extended == big
    if big:
        assert (size16, count16) == (0xFFFF, 0)
        assert struct.unpack_from(">II", raw, 16) == (len(message.payload), message.data_count)
        assert len(raw) == 24 + len(message.payload)
    else:
        assert (size16, count16) == (len(message.payload), message.data_count)
        assert len(raw) == 16 + len(message.payload)
    assert len(message.payload) % 8 == 0


# --- every message class without data -------------------------------------------------------------

@pytest.mark.parametrize("cls", sorted(MESSAGE_KWARGS, key=lambda c: c.__name__),
                         ids=lambda c: c.__name__)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_message_round_trip(cls, data):
    kwargs = data.draw(st.fixed_dictionaries(MESSAGE_KWARGS[cls]))
    message = cls(**kwargs)
    again = read_back(message)
    assert type(again) is cls
    assert again == message and not (again != message)
    check_header_form(message)
    for name in cls.FIELDS:
        assert same_value(getattr(again, name), getattr(message, name)), name
    for name, value in kwargs.items():
        expected = expected_field(cls, name, value)
        if expected is not None:
            assert same_value(getattr(again, name), expected), name
    if cls is cc.ErrorResponse:
        quoted = kwargs["original_request"]
        assert again.original_header == HEADER.unpack(quoted.header()[:16])
        assert type(again.original_request) is type(quoted)
    # The UDP reader gives the same message from a datagram holding it.
    assert cc.read_datagram(bytes(message), cls.ROLE) == [message]
    repr(again)


def test_error_response_defaults_to_the_status_text():
    request = cc.ReadNotifyRequest(ChannelType.DOUBLE, 1, sid=7, ioid=9)
    error = read_back(cc.ErrorResponse(request, cid=3, status=cc.EcaStatus.ECA_BADTYPE))
    assert error.error_message == cc.eca_message(cc.EcaStatus.ECA_BADTYPE)
    assert error.original_request == request
    assert error.original_header[0] == cc.Command.READ_NOTIFY
    # The quoted header may also be given as bytes.
    same = cc.ErrorResponse(bytes(request), cid=3, status=cc.EcaStatus.ECA_BADTYPE)
    assert bytes(same) == bytes(error)


def test_field_values_outside_the_header_ranges_are_refused_at_construction():
    with pytest.raises(ValueError, match="data_type"):
        cc.CreateChanResponse(0x10000, 1, 1, 1)
    with pytest.raises(ValueError, match="parameter1|cid"):
        cc.ClearChannelRequest(sid=1, cid=-1)
    with pytest.raises(ValueError, match="parameter2|sid"):
        cc.CreateChanResponse(6, 1, cid=1, sid=2**32)
    with pytest.raises(ValueError):
        cc.ReadNotifyRequest(6, 2**32, 1, 1)


def test_messages_are_immutable_also_after_decoding():
    message = cc.ReadNotifyResponse([1.5], ChannelType.DOUBLE, ioid=4)
    with pytest.raises(AttributeError):
        message.parameter2 = 5
    message.data  # decoding caches the values: it must not make the message mutable
    with pytest.raises(AttributeError):
        message.parameter2 = 5
    with pytest.raises(AttributeError):
        message.payload = b""
    assert message.ioid == 4


def test_messages_compare_by_class_and_value():
    a = cc.ClearChannelRequest(1, 2)
    assert a == cc.ClearChannelRequest(1, 2)
    assert a != cc.ClearChannelRequest(2, 1)
    assert a != cc.ClearChannelResponse(1, 2)  # same bytes, other direction
    assert a != bytes(a)


@given(name=st.text(text_chars, min_size=1, max_size=40))
@settings(max_examples=50, deadline=None)
def test_names_keep_non_ascii_text(name):
    for cls in (cc.SearchRequest, cc.CreateChanRequest):
        message = cls(name, cid=1)
        assert read_back(message).name == name
    assert read_back(cc.ClientNameRequest(name)).name == name


# --- DBR payload strategies ---------------------------------------------------------------------

#: Element values of each native type, the type limits always among the candidates.
_INT_LIMITS = {
    ChannelType.INT: (-2**15, 2**15 - 1),
    ChannelType.ENUM: (0, 2**16 - 1),
    ChannelType.CHAR: (0, 255),
    ChannelType.LONG: (-2**31, 2**31 - 1),
}


def element_strategy(native: ChannelType) -> st.SearchStrategy:
    if native == ChannelType.STRING:
        return text_fitting(39)
    if native == ChannelType.FLOAT:
        return st.one_of(st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0,
                                          3.4028234663852886e38, 1.401298464324817e-45]),
                         float32s)
    if native == ChannelType.DOUBLE:
        return st.one_of(st.sampled_from([math.nan, math.inf, -math.inf, -0.0,
                                          1.7976931348623157e308, 5e-324]),
                         st.floats(allow_nan=True, allow_infinity=True))
    low, high = _INT_LIMITS[native]
    return st.one_of(st.sampled_from([low, high, 0]), st.integers(low, high))


def _metadata_items(layout: cc.DbrType) -> list[tuple[str, str]]:
    """(field, struct code) of the metadata structure of ``layout``."""
    codes = []
    for number, code in _tokens(layout.metadata.format.lstrip(">")):
        if code == "x":
            continue
        codes.extend([code] * (1 if code == "s" else number))
    return list(zip(layout.fields, codes))


def _tokens(fmt: str):
    number = ""
    for char in fmt:
        if char.isdigit():
            number += char
        else:
            yield (int(number) if number else 1), char
            number = ""


_FIELD_CODES = {
    "h": st.integers(-2**15, 2**15 - 1),
    "H": u16,
    "i": st.integers(-2**31, 2**31 - 1),
    "I": u32,
    "B": st.integers(0, 255),
    # NaN as metadata means "no limit": its bit pattern carries nothing.
    "f": float32s.map(lambda x: math.nan if math.isnan(x) else x),
    "d": st.floats().map(lambda x: math.nan if math.isnan(x) else x),
}
#: 16 enum strings of up to 25 bytes each, the documented maximum.
enum_strs = st.lists(text_fitting(25), max_size=16).map(tuple)
units = text_fitting(7)


def metadata_strategy(type_id: int) -> st.SearchStrategy[dict]:
    layout = cc.dbr_type(type_id)
    items = {}
    for name, code in _metadata_items(layout):
        if name == "units":
            items[name] = units
        elif name == "strs":
            items["enum_strs"] = enum_strs
        elif name == "no_str":
            continue
        else:
            items[name] = _FIELD_CODES[code]
    return st.fixed_dictionaries(items)


def values_strategy(type_id: int, max_count: int = 20) -> st.SearchStrategy[list]:
    return st.lists(element_strategy(cc.native_type(type_id)), max_size=max_count)


def check_metadata(decoded: dict | None, given: dict, type_id: int) -> None:
    layout = cc.dbr_type(type_id)
    if not layout.fields:
        assert decoded is None
        return
    for name, value in given.items():
        assert same_value(decoded[name], value), (name, decoded[name], value)
    if "seconds" in layout.fields:
        assert decoded["timestamp"] == pytest.approx(
            given["seconds"] + cc.EPICS_EPOCH_OFFSET + given["nanoseconds"] * 1e-9)


def wire_values(native: ChannelType, values) -> bytes:
    """The big-endian bytes of ``values``, to compare arrays bit by bit (NaN included)."""
    if native == ChannelType.STRING:
        return b"|".join(s.encode("utf-8") for s in values)
    return numpy.asarray(values).astype(_dbr._ELEMENTS[native].numpy_dtype).tobytes()


def check_values(native: ChannelType, decoded, given) -> None:
    if native == ChannelType.STRING:
        assert list(decoded) == list(given)
        return
    assert isinstance(decoded, numpy.ndarray)
    assert decoded.dtype.isnative and decoded.dtype.kind == numpy.dtype(
        _dbr._ELEMENTS[native].numpy_dtype).kind
    assert len(decoded) == len(given)
    assert wire_values(native, decoded) == wire_values(native, given)


# --- DBR payloads ---------------------------------------------------------------------------------

@pytest.mark.parametrize("type_id", sorted(cc.DBR_TYPES), ids=lambda t: ChannelType(t).name)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_dbr_payload_round_trip(type_id, data):
    values = data.draw(values_strategy(type_id), label="values")
    metadata = data.draw(metadata_strategy(type_id), label="metadata")
    native = cc.native_type(type_id)
    payload, count = cc.encode_payload(type_id, values, metadata)
    assert count == len(values)
    assert len(payload) % 8 == 0
    assert len(payload) <= cc.payload_size(type_id, count)
    decoded_metadata, decoded = cc.decode_payload(type_id, payload, count)
    check_metadata(decoded_metadata, metadata, type_id)
    check_values(native, decoded, values)
    # Decoded values and metadata encode to the very same bytes.
    assert cc.encode_payload(type_id, decoded, decoded_metadata) == (payload, count)
    # Into arrays a receiver gives (memory it reuses): the same values, in that array.
    given = []

    def allocate(count, dtype):
        given.append(numpy.full(count, 7, dtype))
        return given[-1]

    into_metadata, into = cc.decode_payload(type_id, payload, count, allocate=allocate)
    check_values(native, into, values)
    assert not given or into is given[0]
    # The path without numpy reads the same values.
    plain_metadata, plain = cc.decode_payload(type_id, payload, count, use_numpy=False)
    if decoded_metadata is None:
        assert plain_metadata is None
    else:
        check_metadata(plain_metadata, metadata, type_id)
    if native == ChannelType.STRING:
        assert plain == decoded
    else:
        assert isinstance(plain, array.array)
        assert plain.tobytes() == decoded.tobytes()


@pytest.mark.parametrize("cls", DATA_CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("type_id", sorted(cc.DBR_TYPES), ids=lambda t: ChannelType(t).name)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_data_message_round_trip(cls, type_id, data):
    values = data.draw(values_strategy(type_id, max_count=8), label="values")
    metadata = data.draw(metadata_strategy(type_id), label="metadata")
    ids = data.draw(st.tuples(u32, u32), label="ids")
    if cls in (cc.WriteRequest, cc.WriteNotifyRequest):
        message = cls(values, type_id, ids[0], ids[1], metadata=metadata)
        assert (message.sid, message.ioid) == ids
    else:
        message = cls(values, type_id, ids[0], status=ids[1] & 0xFFFF, metadata=metadata)
        assert message.parameter2 == ids[0] and message.status == ids[1] & 0xFFFF
    again = read_back(message)
    assert type(again) is cls and again == message
    check_header_form(message)
    assert again.data_type == type_id and again.data_count == len(values)
    check_metadata(again.metadata, metadata, type_id)
    check_values(cc.native_type(type_id), again.data, values)
    plain_metadata, plain = again.decode(use_numpy=False)
    if plain_metadata is not None:
        check_metadata(plain_metadata, metadata, type_id)
    assert len(plain) == len(values)
    repr(again)


def test_numbers_are_converted_into_the_array_the_receiver_gives():
    expected = numpy.arange(1000.0) - 500.0
    message = read_back(cc.ReadNotifyResponse(expected, ChannelType.TIME_DOUBLE, 7,
                                              status=1))
    out = numpy.full(1000, numpy.nan)
    metadata, values = message.decode(allocate=lambda count, dtype: out)
    assert values is out and numpy.array_equal(out, expected)
    assert message.data is out  # kept: the message is decoded once
    # Bytes are a read-only view of the payload; nothing to convert, nothing allocated.
    def refuse(count, dtype):
        raise AssertionError("bytes need no conversion")

    chars = read_back(cc.ReadNotifyResponse(b"text", ChannelType.CHAR, 7, status=1))
    assert chars.decode(allocate=refuse)[1].tobytes() == b"text"


def test_a_large_array_is_sent_as_it_was_when_encoded():
    """A large array converted for the wire travels as a view of that conversion (no
    second copy); one already in wire order is copied, so that the caller's later
    changes do not reach a message still waiting to be sent."""
    expected = numpy.arange(100_000.0).astype(">f8").tobytes()
    native = numpy.arange(100_000.0)
    in_wire_order = numpy.arange(100_000.0).astype(">f8")
    converted = cc.WriteNotifyRequest(native, ChannelType.DOUBLE, 1, 2)
    copied = cc.WriteNotifyRequest(in_wire_order, ChannelType.DOUBLE, 1, 2)
    native[:] = -1.0
    in_wire_order[:] = -1.0
    assert bytes(converted.payload) == bytes(copied.payload) == expected
    assert read_back(converted) == read_back(copied)


def test_an_empty_monitor_update_is_not_read_as_a_cancel_acknowledgement():
    # An EVENT_ADD from the server without payload acknowledges EVENT_CANCEL; an update
    # with no elements of a type without metadata must still carry a (padding) payload.
    for type_id in (ChannelType.DOUBLE, ChannelType.STRING, ChannelType.PUT_ACKT):
        update = cc.EventAddResponse([], type_id, subscriptionid=3)
        again = read_back(update)
        assert type(again) is cc.EventAddResponse
        assert again.data_count == 0 and len(again.data) == 0


def test_detach_gives_a_kept_reply_its_own_bytes():
    """A reply received with others is a view of their common buffer until detached; after
    it, the reply holds only its own bytes and reads and writes as before."""
    replies = [cc.ReadNotifyResponse(numpy.arange(3.0) + i, ChannelType.DOUBLE, ioid=i)
               for i in range(50)]
    received = b"".join(bytes(reply) for reply in replies)
    messages, consumed = cc.read_stream(received, cc.Role.SERVER)
    assert consumed == len(received)
    kept = messages[7]
    assert kept.data[2] == 9.0  # decoded while still a view
    assert kept.payload.obj is received
    kept.detach()
    assert type(kept.payload) is bytes and bytes(kept) == bytes(replies[7])
    assert list(kept.data) == [7.0, 8.0, 9.0] and kept.data.base is not received
    # An empty payload is a view too (of nothing, but of the same buffer).
    done = cc.WriteNotifyResponse(ChannelType.DOUBLE, 1, status=1, ioid=4)
    reply = cc.read_stream(bytes(done) + bytes(replies[0]), cc.Role.SERVER)[0][0]
    assert type(reply.payload) is memoryview
    reply.detach()
    assert reply.payload == b"" and type(reply.payload) is bytes and bytes(reply) == bytes(done)
    large = cc.ReadNotifyResponse(numpy.arange(20_000.0), ChannelType.DOUBLE, ioid=1)
    (again,), _ = cc.read_stream(memoryview(bytes(large)), cc.Role.SERVER)
    again.detach()  # over DETACH_LIMIT: a large reply is left a view of its own buffer
    assert type(again.payload) is memoryview and bytes(again) == bytes(large)


# --- counts at the header edges, and large arrays ------------------------------------------------

def _array_of(native: ChannelType, count: int):
    if native == ChannelType.STRING:
        return [f"s{i % 1000}" for i in range(count)]
    dtype = _dbr._ELEMENTS[native].numpy_dtype.lstrip(">")
    return (numpy.arange(count) % 200).astype(dtype)


EDGE_COUNTS = [0, 1, 0xFFFE, 0xFFFF, 100_000]


@pytest.mark.parametrize("count", EDGE_COUNTS)
@pytest.mark.parametrize("type_id", sorted(cc.DBR_TYPES), ids=lambda t: ChannelType(t).name)
def test_counts_at_the_header_edges(type_id, count):
    native = cc.native_type(type_id)
    values = _array_of(native, count)
    metadata = {"status": 3, "severity": 2, "seconds": 5, "nanoseconds": 6, "units": "mm",
                "enum_strs": ("a", "b"), "precision": 2, "ackt": 1, "acks": 2}
    metadata = {k: v for k, v in metadata.items()
                if k in cc.dbr_type(type_id).fields or k == "enum_strs"}
    message = cc.ReadNotifyResponse(values, type_id, ioid=77, metadata=metadata)
    assert message.data_count == count
    check_header_form(message)
    again = read_back(message)
    assert again.data_count == count and again.ioid == 77
    check_values(native, again.data, values)
    if count >= 0xFFFF:
        assert again.extended
    # Requests for that many elements use the extended header too, with no payload.
    request = cc.ReadNotifyRequest(type_id, count, sid=1, ioid=2)
    check_header_form(request)
    assert read_back(request).data_count == count


def test_a_request_count_of_0xfffe_fits_the_standard_header():
    request = cc.EventAddRequest(ChannelType.DOUBLE, 0xFFFE, 1, 2)
    assert not request.extended and len(bytes(request)) == 32
    assert cc.EventAddRequest(ChannelType.DOUBLE, 0xFFFF, 1, 2).extended


def test_a_million_doubles_travel_in_one_extended_message():
    values = numpy.linspace(-1, 1, 1_000_000)
    message = cc.EventAddResponse(values, ChannelType.TIME_DOUBLE, subscriptionid=1)
    again = read_back(message)
    assert again.extended and again.data_count == 1_000_000
    numpy.testing.assert_array_equal(again.data, values)


# --- strings ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("type_id", [ChannelType.STRING, ChannelType.TIME_STRING,
                                     ChannelType.CTRL_STRING, ChannelType.STSACK_STRING,
                                     ChannelType.CLASS_NAME])
def test_39_byte_strings_fit_and_40_byte_strings_are_refused(type_id):
    for text in ("x" * 39, "é" * 19 + "x", "\u20ac" * 13):  # 39 bytes of UTF-8 each
        assert len(text.encode()) == 39
        message = cc.WriteNotifyRequest(text, type_id, sid=1, ioid=2)
        assert read_back(message).data == [text]
        pair = cc.WriteNotifyRequest([text, "b"], type_id, sid=1, ioid=2)
        assert read_back(pair).data == [text, "b"]
    for text in ("x" * 40, "é" * 20, "\u20ac" * 13 + "x"):  # 40 bytes
        with pytest.raises(ValueError, match="40 bytes long; at most 39"):
            cc.WriteNotifyRequest(text, type_id, sid=1, ioid=2)
        with pytest.raises(ValueError, match="40 bytes long"):
            cc.encode_payload(type_id, ["ok", text])


def test_strings_given_as_bytes_keep_their_bytes():
    raw = bytes(range(1, 40))
    for value in (raw, bytearray(raw), memoryview(raw)):
        payload, count = cc.encode_payload(ChannelType.STRING, value)
        assert count == 1
        assert _dbr.encode_string(cc.decode_payload(0, payload, 1)[1][0]) == raw
    # Bytes that are not UTF-8 survive a decode/encode round trip unchanged.
    latin = "caf\xe9".encode("latin-1")
    message = read_back(cc.ReadNotifyResponse(latin, ChannelType.STRING, ioid=1))
    assert _dbr.encode_string(message.data[0]) == latin


def test_text_without_bytes_is_a_value_error():
    with pytest.raises(ValueError):
        cc.encode_payload(ChannelType.STRING, "\ud800")


def test_units_and_enum_strings_at_their_limits():
    strs = tuple(f"{i:02d}" + "\u00e9" * 11 + "x" for i in range(16))  # 25 bytes each
    assert all(len(s.encode()) == 25 for s in strs)
    message = cc.ReadNotifyResponse(3, ChannelType.CTRL_ENUM, ioid=1,
                                    metadata={"enum_strs": strs})
    assert read_back(message).metadata["enum_strs"] == strs
    with pytest.raises(ValueError, match="enum string"):
        cc.encode_payload(ChannelType.CTRL_ENUM, 0, {"enum_strs": ("x" * 26,)})
    with pytest.raises(ValueError, match="at most 16"):
        cc.encode_payload(ChannelType.GR_ENUM, 0, {"enum_strs": ("x",) * 17})
    message = cc.ReadNotifyResponse(1.0, ChannelType.CTRL_DOUBLE, ioid=1,
                                    metadata={"units": "\u00b5m/sec"})  # 7 bytes
    assert read_back(message).metadata["units"] == "\u00b5m/sec"
    with pytest.raises(ValueError, match="units"):
        cc.encode_payload(ChannelType.GR_DOUBLE, 1.0, {"units": "x" * 8})


def test_enum_count_on_the_wire_is_clamped_when_reading():
    # A server claiming 40 states gives the 16 there is room for, not an IndexError.
    payload = bytearray(cc.encode_payload(ChannelType.GR_ENUM, 1,
                                          {"enum_strs": ("a",) * 16})[0])
    struct.pack_into(">h", payload, 4, 40)
    metadata, _ = cc.decode_payload(ChannelType.GR_ENUM, bytes(payload), 1)
    assert len(metadata["enum_strs"]) == 16
    struct.pack_into(">h", payload, 4, -3)
    assert cc.decode_payload(ChannelType.GR_ENUM, bytes(payload), 1)[0]["enum_strs"] == ()


# --- numbers at their limits -------------------------------------------------------------------------

@pytest.mark.parametrize("native", [ChannelType.INT, ChannelType.ENUM, ChannelType.CHAR,
                                    ChannelType.LONG])
@pytest.mark.parametrize("use_numpy", [True, False], ids=["numpy", "no-numpy"])
def test_integers_at_and_beyond_their_limits(native, use_numpy, monkeypatch):
    if not use_numpy:
        monkeypatch.setattr(_dbr, "numpy", None)
    low, high = _INT_LIMITS[native]
    payload, count = cc.encode_payload(native, [low, high, 0])
    assert count == 3
    assert list(cc.decode_payload(native, payload, 3, use_numpy=False)[1]) == [low, high, 0]
    for bad in (low - 1, high + 1, 2**64, -2**64):
        with pytest.raises(ValueError, match=f"{native.name}"):
            cc.encode_payload(native, [0, bad])
    for bad in (math.nan, math.inf, -math.inf, float(high) + 1):
        with pytest.raises(ValueError, match=f"{native.name}"):
            cc.encode_payload(native, bad)
    # Floats inside the range are cut to integers, as a C cast does, with and without numpy.
    assert list(cc.decode_payload(native, cc.encode_payload(native, [1.75, high - 0.5])[0], 2,
                                  use_numpy=False)[1]) == [1, high - 1]


@pytest.mark.parametrize("native", [ChannelType.FLOAT, ChannelType.DOUBLE])
@pytest.mark.parametrize("use_numpy", [True, False], ids=["numpy", "no-numpy"])
def test_floats_nan_and_infinities(native, use_numpy, monkeypatch):
    if not use_numpy:
        monkeypatch.setattr(_dbr, "numpy", None)
    values = [math.nan, math.inf, -math.inf, -0.0, 1.5]
    for type_id in (native, cc.promote(native, "time"), cc.promote(native, "ctrl")):
        message = read_back(cc.EventAddResponse(values, type_id, subscriptionid=1,
                                                metadata={"upper_ctrl_limit": math.inf,
                                                          "lower_ctrl_limit": -math.inf,
                                                          "upper_alarm_limit": math.nan}))
        decoded = list(message.data) if use_numpy else list(message.decode(False)[1])
        assert math.isnan(decoded[0]) and decoded[1:3] == [math.inf, -math.inf]
        assert math.copysign(1, decoded[3]) == -1 and decoded[4] == 1.5
        if message.metadata and "upper_ctrl_limit" in message.metadata:
            assert message.metadata["upper_ctrl_limit"] == math.inf
            assert message.metadata["lower_ctrl_limit"] == -math.inf
            assert math.isnan(message.metadata["upper_alarm_limit"])


def test_metadata_that_does_not_fit_is_a_value_error():
    with pytest.raises(ValueError, match="GR_FLOAT"):
        cc.encode_payload(ChannelType.GR_FLOAT, 1.0, {"upper_disp_limit": 1e300})
    with pytest.raises(ValueError, match="STS_DOUBLE"):
        cc.encode_payload(ChannelType.STS_DOUBLE, 1.0, {"status": 2**20})
    with pytest.raises(ValueError):
        cc.encode_payload(ChannelType.TIME_DOUBLE, 1.0, {"seconds": -1})


# --- without numpy -----------------------------------------------------------------------------------

@pytest.mark.parametrize("type_id", sorted(cc.DBR_TYPES), ids=lambda t: ChannelType(t).name)
@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_encoding_without_numpy_gives_the_same_bytes(type_id, data, monkeypatch_numpy_away):
    values = data.draw(values_strategy(type_id), label="values")
    metadata = data.draw(metadata_strategy(type_id), label="metadata")
    with monkeypatch_numpy_away() as plain_dbr:
        plain = plain_dbr.encode_payload(type_id, values, metadata)
        message = cc.ReadNotifyResponse(values, type_id, ioid=1, metadata=metadata)
        decoded = message.decode(use_numpy=False)[1]
    assert plain == cc.encode_payload(type_id, values, metadata)
    assert bytes(message.payload) == plain[0]
    if cc.native_type(type_id) == ChannelType.STRING:
        assert decoded == values
    else:
        assert isinstance(decoded, array.array)
        assert decoded.tobytes() == message.data.tobytes()


@pytest.fixture
def monkeypatch_numpy_away(monkeypatch):
    """A context in which caproto_core._dbr sees no numpy."""
    import contextlib

    @contextlib.contextmanager
    def away():
        with monkeypatch.context() as patch:
            patch.setattr(_dbr, "numpy", None)
            yield _dbr
    return away


def test_without_numpy_data_is_an_array_array(monkeypatch):
    monkeypatch.setattr(_dbr, "numpy", None)
    message = read_back(cc.ReadNotifyResponse([1.5, -2.0], ChannelType.TIME_DOUBLE, ioid=1,
                                              metadata={"seconds": 3}))
    assert isinstance(message.data, array.array) and list(message.data) == [1.5, -2.0]
    assert message.metadata["seconds"] == 3
    chars = read_back(cc.WriteRequest(b"\x00\xffab", ChannelType.CHAR, sid=1, ioid=2))
    assert chars.data.tobytes() == b"\x00\xffab"
    for type_id in (ChannelType.TIME_DOUBLE, ChannelType.LONG, ChannelType.CTRL_CHAR):
        single = read_back(cc.EventAddResponse(7, type_id, subscriptionid=1))
        assert isinstance(single.data, array.array) and list(single.data) == [7]


def test_the_core_works_where_numpy_cannot_be_imported():
    """A fresh interpreter in which ``import numpy`` fails."""
    script = """
import sys
sys.modules["numpy"] = None  # makes "import numpy" raise ImportError
import array, caproto_core as cc
assert cc._dbr.numpy is None
m = cc.ReadNotifyResponse([1.5, -2.0], cc.ChannelType.TIME_DOUBLE, ioid=1, metadata={"seconds": 3})
(again,), _ = cc.read_stream(bytes(m), cc.SERVER)
assert isinstance(again.data, array.array) and list(again.data) == [1.5, -2.0]
assert again.metadata["seconds"] == 3
one = cc.EventAddResponse(5, cc.ChannelType.TIME_LONG, 1)
(again,), _ = cc.read_stream(bytes(one), cc.SERVER)
assert list(again.data) == [5]
try:
    cc.encode_payload(cc.ChannelType.INT, [40000])
except ValueError:
    pass
else:
    raise AssertionError("no range check without numpy")
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_encoding_accepts_numpy_arrays_of_any_byte_order():
    for dtype in ("<f8", ">f8", "<i4", ">i2", "u1"):
        values = numpy.arange(5).astype(dtype)
        payload, count = cc.encode_payload(ChannelType.DOUBLE, values)
        assert count == 5
        assert list(cc.decode_payload(ChannelType.DOUBLE, payload, 5)[1]) == [0, 1, 2, 3, 4]


def test_every_dbr_type_is_in_the_table():
    assert sorted(cc.DBR_TYPES) == list(range(39))
    sizes = {  # sizeof the C structures of db_access.h with one value, RISC padding included
        ChannelType.STRING: 40, ChannelType.INT: 2, ChannelType.FLOAT: 4, ChannelType.ENUM: 2,
        ChannelType.CHAR: 1, ChannelType.LONG: 4, ChannelType.DOUBLE: 8,
        ChannelType.STS_STRING: 44, ChannelType.STS_INT: 6, ChannelType.STS_FLOAT: 8,
        ChannelType.STS_ENUM: 6, ChannelType.STS_CHAR: 6, ChannelType.STS_LONG: 8,
        ChannelType.STS_DOUBLE: 16, ChannelType.TIME_STRING: 52, ChannelType.TIME_INT: 16,
        ChannelType.TIME_FLOAT: 16, ChannelType.TIME_ENUM: 16, ChannelType.TIME_CHAR: 16,
        ChannelType.TIME_LONG: 16, ChannelType.TIME_DOUBLE: 24, ChannelType.GR_STRING: 44,
        ChannelType.GR_INT: 26, ChannelType.GR_FLOAT: 44, ChannelType.GR_ENUM: 424,
        ChannelType.GR_CHAR: 20, ChannelType.GR_LONG: 40, ChannelType.GR_DOUBLE: 72,
        ChannelType.CTRL_STRING: 44, ChannelType.CTRL_INT: 30, ChannelType.CTRL_FLOAT: 52,
        ChannelType.CTRL_ENUM: 424, ChannelType.CTRL_CHAR: 22, ChannelType.CTRL_LONG: 48,
        ChannelType.CTRL_DOUBLE: 88, ChannelType.PUT_ACKT: 2, ChannelType.PUT_ACKS: 2,
        ChannelType.STSACK_STRING: 48, ChannelType.CLASS_NAME: 40,
    }
    for type_id, size in sizes.items():
        layout = cc.dbr_type(type_id)
        assert layout.metadata.size + cc.element_size(type_id) == size, type_id.name


def test_message_classes_take_their_documented_arguments():
    # Other packages construct messages by keyword: keep the names stable.
    assert list(inspect.signature(cc.ReadNotifyResponse).parameters) == [
        "data", "data_type", "ioid", "status", "data_count", "metadata"]
    assert list(inspect.signature(cc.EventAddRequest).parameters)[:5] == [
        "data_type", "data_count", "sid", "subscriptionid", "mask"]


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_messages_copy_and_pickle_exactly(data):
    import copy
    import pickle
    cls = data.draw(st.sampled_from(sorted(MESSAGE_KWARGS, key=lambda c: c.__name__)))
    message = cls(**data.draw(st.fixed_dictionaries(MESSAGE_KWARGS[cls])))
    read, _ = cc.read_stream(bytes(message), cls.ROLE)  # payload is a memoryview here
    for original in (message, read[0]):
        for twin in (copy.copy(original), copy.deepcopy(original),
                     pickle.loads(pickle.dumps(original))):
            assert type(twin) is cls and twin == original
            assert bytes(twin) == bytes(original)
    update = cc.EventAddResponse([1.5, 2.5], ChannelType.TIME_DOUBLE, 3, metadata={"seconds": 9})
    update.data
    twin = pickle.loads(pickle.dumps(update))
    assert twin == update and twin.metadata["seconds"] == 9


@given(st.one_of(
    st.tuples(st.just(cc.ChannelType.DOUBLE), st.floats(allow_nan=False)),
    st.tuples(st.sampled_from([cc.ChannelType.INT, cc.ChannelType.ENUM,
                               cc.ChannelType.LONG, cc.ChannelType.DOUBLE,
                               cc.ChannelType.FLOAT]),
              st.integers(-2**40, 2**40)),
    # Floats sent as integers are cut toward zero (a 0-d array once came out
    # little-endian there).
    st.tuples(st.sampled_from([cc.ChannelType.INT, cc.ChannelType.ENUM,
                               cc.ChannelType.LONG, cc.ChannelType.CHAR]),
              st.floats(-1e5, 1e5))))
def test_a_single_number_encodes_as_one_of_two_does(case):
    """One number, alone or as the one element of a list or an array, has a fast path;
    its bytes (or its error) are those of the general path, which two elements take."""
    native, value = case
    forms = [value, [value], (value,), numpy.array([value]), numpy.array(value)]
    try:
        both, _ = _dbr.encode_values(native, [value, value])
    except ValueError:  # out of the type's range
        for form in forms:
            with pytest.raises(ValueError):
                _dbr.encode_values(native, form)
        return
    expected = (bytes(both)[:len(both) // 2], 1)
    for form in forms:
        encoded, count = _dbr.encode_values(native, form)
        assert (bytes(encoded), count) == expected, form
