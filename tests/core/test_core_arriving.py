"""Numbers of a large data message converted in place while its bytes arrive
(ArrivingValues): the same values as decoding the whole message, in the memory they
arrived in, and the message's bytes as received."""
from __future__ import annotations

import pickle

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import caproto_core as cc
from caproto_core import ChannelType, _arriving

#: DBR types of numbers that need converting (2, 4 or 8 bytes each): every family.
NUMBER_TYPES = sorted(type_id for type_id, layout in cc.DBR_TYPES.items()
                      if layout.native in (ChannelType.INT, ChannelType.FLOAT,
                                           ChannelType.ENUM, ChannelType.LONG,
                                           ChannelType.DOUBLE))
FROM_SERVER = (cc.ReadNotifyResponse, cc.EventAddResponse)


def server_message(cls, values, type_id):
    if cls is cc.ReadNotifyResponse:
        return cls(values, type_id, ioid=5)
    return cls(values, type_id, subscriptionid=9)


def arrive(raw: bytes, cuts: list[int]):
    """Receive ``raw`` into a buffer piece by piece, as an I/O layer does: the arriving
    values from the first piece holding the header, converted after each piece; then the
    message parsed from that buffer."""
    buffer = memoryview(bytearray(len(raw)))
    arriving = None
    filled = 0
    for cut in sorted(set(cuts)) + [len(raw)]:
        if cut <= filled:
            continue
        buffer[filled:cut] = raw[filled:cut]
        filled = cut
        if arriving is None and cc.message_size(buffer[:filled]) is not None:
            arriving = cc.arriving_values(buffer[:filled], cc.SERVER)
            assert arriving is not None
        if arriving is not None:
            arriving.convert(buffer, filled)
    (message,), consumed = cc.read_stream(buffer, cc.SERVER)
    assert consumed == len(raw)
    return arriving, message


@pytest.mark.parametrize("cls", FROM_SERVER, ids=lambda c: c.__name__)
@pytest.mark.parametrize("type_id", NUMBER_TYPES, ids=lambda t: ChannelType(t).name)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_converted_while_arriving_equals_decoded_whole(cls, type_id, data):
    count = data.draw(st.integers(1, 300), label="count")
    native = cc.DBR_TYPES[type_id].native
    dtype = numpy.dtype(cc._dbr._ELEMENTS[native].numpy_dtype).newbyteorder("=")
    values = numpy.frombuffer(data.draw(st.binary(min_size=count * dtype.itemsize,
                                                  max_size=count * dtype.itemsize)), dtype)
    if native == ChannelType.FLOAT or native == ChannelType.DOUBLE:
        values = numpy.nan_to_num(values)  # compared with ==, below
    raw = bytes(server_message(cls, values, type_id))
    cuts = data.draw(st.lists(st.integers(1, len(raw)), max_size=12), label="cuts")
    arriving, message = arrive(raw, cuts)
    assert arriving.finish(message)
    metadata, converted = message.decode()
    expected_metadata, expected = cc.read_stream(raw, cc.SERVER)[0][0].decode()
    assert converted.dtype.isnative and converted.tobytes() == expected.tobytes()
    assert metadata == expected_metadata
    # The bytes received, rebuilt from the numbers converted in place.
    assert bytes(message) == raw and message == cc.read_stream(raw, cc.SERVER)[0][0]
    assert pickle.loads(pickle.dumps(message)) == message
    # The path without numpy reads those bytes: the same numbers.
    assert message.decode(use_numpy=False)[1].tobytes() == expected.tobytes()


def test_the_values_are_the_memory_the_numbers_arrived_in():
    values = numpy.arange(70_000.0)
    raw = bytes(cc.ReadNotifyResponse(values, ChannelType.TIME_DOUBLE, ioid=1))
    arriving, message = arrive(raw, [30, 1000, 300_001])
    assert arriving.finish(message)
    data = message.data
    assert numpy.shares_memory(data, numpy.frombuffer(message.payload, "u1"))
    assert numpy.array_equal(data, values) and data.flags.writeable
    # The wire bytes follow the values (the message's own, as a caller changes them).
    data[0] = -1.0
    assert cc.read_stream(bytes(message), cc.SERVER)[0][0].data[0] == -1.0


def test_a_small_message_converted_in_place_detaches_as_received():
    values = numpy.arange(1000, dtype=numpy.int32)
    raw = bytes(cc.EventAddResponse(values, ChannelType.TIME_LONG, subscriptionid=1))
    arriving, message = arrive(raw, [100])
    assert arriving.finish(message)
    message.detach()  # a copy of its own, in wire order
    assert type(message.payload) is bytes and bytes(message) == raw
    assert numpy.array_equal(message.data, values)


def test_nothing_is_given_unless_all_of_this_message_was_converted():
    values = numpy.arange(1000, dtype=numpy.int32)
    raw = bytes(cc.EventAddResponse(values, ChannelType.LONG, subscriptionid=1))
    # Not all converted: the last numbers' bytes had not come at the last convert.
    buffer = memoryview(bytearray(raw))
    partial = cc.arriving_values(buffer[:16], cc.SERVER)
    partial.convert(buffer, len(raw) - 4)
    (message,), _ = cc.read_stream(buffer, cc.SERVER)
    assert not partial.finish(message)
    assert buffer == raw  # put back in wire order
    assert numpy.array_equal(message.data, values)  # decoded from its payload instead
    # Converted from other bytes than those the message was parsed from (a copy).
    arriving, _ = arrive(raw, [])
    (copy,), _ = cc.read_stream(bytearray(raw), cc.SERVER)
    assert not arriving.finish(copy)
    assert numpy.array_equal(copy.data, values)
    # Another message.
    other = cc.read_stream(bytes(cc.EventAddResponse(values, ChannelType.LONG, 2)),
                           cc.SERVER)[0][0]
    third, _ = arrive(bytes(cc.EventAddResponse(values[:999], ChannelType.LONG, 1)), [])
    assert not third.finish(other)


@pytest.mark.parametrize("message", [
    cc.ReadNotifyResponse(["text"], ChannelType.STRING, ioid=1),
    cc.ReadNotifyResponse(b"bytes", ChannelType.CHAR, ioid=1),
    cc.ReadNotifyResponse(b"bytes", ChannelType.TIME_CHAR, ioid=1),
    cc.ErrorResponse(cc.ReadNotifyRequest(ChannelType.DOUBLE, 1, 2, 3), 1, 4, "no"),
], ids=["strings", "bytes", "timed bytes", "not data"])
def test_nothing_to_convert(message):
    assert cc.arriving_values(bytes(message), cc.SERVER) is None


def test_nothing_to_convert_without_numpy(monkeypatch):
    raw = bytes(cc.ReadNotifyResponse(numpy.arange(10.0), ChannelType.DOUBLE, 1))
    monkeypatch.setattr(_arriving, "numpy", None)
    assert cc.arriving_values(raw, cc.SERVER) is None


def test_a_partial_header_or_the_other_role():
    raw = bytes(cc.ReadNotifyResponse(numpy.arange(100_000.0), ChannelType.DOUBLE, 1))
    assert cc.arriving_values(raw[:20], cc.SERVER) is None  # extended header: 24 bytes
    assert cc.arriving_values(raw[:24], cc.SERVER) is not None
    # A client's READ_NOTIFY (command 15 too) carries no data.
    request = bytes(cc.ReadNotifyRequest(ChannelType.DOUBLE, 100_000, 1, 2))
    assert cc.arriving_values(request, cc.CLIENT) is None
    put = bytes(cc.WriteNotifyRequest(numpy.arange(10.0), ChannelType.DOUBLE, 1, 2))
    assert cc.arriving_values(put, cc.CLIENT) is not None
