"""Differential tests: caproto (an independent implementation) reads what we write.

caproto is a test-only dependency used as an oracle: our bytes must parse in caproto as
the same command with the same header fields, the same values and the same metadata,
for every message class and every DBR type 0..34 with random values. (Types 35..38 are
left out: caproto describes them with structures of its own convention. So is
CTRL_STRING: caproto 1.3 lays it out as a TIME_STRING, while db_access.h and rsrv's bytes
in tests/data give it the STS_STRING layout, as we do; see test_core_golden.)
"""
from __future__ import annotations

import math

import numpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import caproto_core as cc
from test_core_roundtrip import DATA_CLASSES, MESSAGE_KWARGS, metadata_strategy, \
    values_strategy

caproto = pytest.importorskip("caproto")
_commands = pytest.importorskip("caproto._commands")

ChannelType = cc.ChannelType
#: Our class -> caproto's, where the names differ (EVENT_ADD without payload, beacons).
CAPROTO_NAMES = {cc.EventCancelResponse: "EventAddResponse", cc.RsrvIsUpResponse: "Beacon"}


def caproto_read(message: cc.Message):
    role = caproto.CLIENT if message.ROLE is cc.CLIENT else caproto.SERVER
    remaining, command, _ = _commands.read_from_bytestream(bytearray(bytes(message)), role)
    assert not remaining
    return command


@pytest.mark.parametrize("cls", sorted(MESSAGE_KWARGS, key=lambda c: c.__name__),
                         ids=lambda c: c.__name__)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_caproto_reads_our_messages(cls, data):
    kwargs = data.draw(st.fixed_dictionaries(MESSAGE_KWARGS[cls]))
    message = cls(**kwargs)
    theirs = caproto_read(message)
    assert type(theirs).__name__ == CAPROTO_NAMES.get(cls, cls.__name__)
    assert bytes(theirs) == bytes(message)
    header = theirs.header
    assert (header.data_type, header.data_count, header.parameter1, header.parameter2) == (
        message.data_type, message.data_count, message.parameter1, message.parameter2)


def _same(ours, theirs) -> bool:
    if isinstance(theirs, bytes):  # char fields: units, or one signed-less char limit
        if isinstance(ours, str):
            return ours.encode("utf-8", "surrogateescape") == theirs.split(b"\0")[0]
        return ours == int.from_bytes(theirs or b"\0", "big")
    if isinstance(ours, float) and math.isnan(ours):
        return math.isnan(theirs)
    return ours == theirs


@pytest.mark.parametrize("cls", DATA_CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("type_id", [t for t in range(35) if t != ChannelType.CTRL_STRING],
                         ids=lambda t: ChannelType(t).name)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_caproto_reads_our_data(cls, type_id, data):
    values = data.draw(values_strategy(type_id, max_count=5), label="values")
    metadata = data.draw(metadata_strategy(type_id), label="metadata")
    message = cls(values, type_id, 1, 2, metadata=metadata)
    theirs = caproto_read(message)
    assert type(theirs).__name__ == cls.__name__
    assert theirs.data_count == len(values)
    native = cc.native_type(type_id)
    if native == ChannelType.STRING:
        assert [s.split(b"\0")[0] for s in theirs.data] == [
            v.encode("utf-8") for v in values]
    else:
        assert numpy.asarray(theirs.data).astype(
            message.data.dtype).tobytes() == message.data.tobytes()
    if not cc.dbr_type(type_id).fields:
        return
    for name, value in message.metadata.items():
        if name == "timestamp":
            continue
        if name in ("seconds", "nanoseconds"):
            stamp = theirs.metadata.stamp
            their = stamp.secondsSinceEpoch if name == "seconds" else stamp.nanoSeconds
        elif name == "enum_strs":
            their = [bytes(s).split(b"\0")[0].decode("utf-8") for s in
                     theirs.metadata.strs[:theirs.metadata.no_str]]
            value = list(value)
        else:
            their = getattr(theirs.metadata, name)
        assert _same(value, their), (name, value, their)
