"""peek_header: a message's header fields read without parsing the message, for bytes the
readers refuse (the server names their command, type and channel in its ERROR)."""
from __future__ import annotations

import pytest

import caproto_core as cc

MESSAGES = [
    cc.VersionRequest(priority=7),
    cc.CreateChanRequest("XX:ai", cid=12),
    cc.ReadNotifyRequest(cc.ChannelType.TIME_DOUBLE, 3, sid=5, ioid=9),
    cc.EventAddRequest(cc.ChannelType.DOUBLE, 1, sid=4, subscriptionid=77,
                       mask=cc.SubscriptionType.DBE_VALUE),
    cc.ReadNotifyResponse(list(range(70_000)), cc.ChannelType.LONG, ioid=3),  # extended
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_the_header_read_ahead_is_the_one_the_reader_parses(message):
    data = b"\xff" * 5 + bytes(message)  # read at an offset, as in a stream
    header = cc.peek_header(data, offset=5)
    [parsed], used = cc.read_stream(data[5:], message.ROLE)
    assert used == len(data) - 5
    assert header == (message.ID, len(parsed.payload), parsed.data_type, parsed.data_count,
                      parsed.parameter1, parsed.parameter2)
    extended = header.payload_size >= 0xFFFF or header.data_count >= 0xFFFF
    assert used == (24 if extended else 16) + header.payload_size


def test_a_partial_header_is_none():
    extended = bytes(MESSAGES[-1])
    assert cc.peek_header(extended[:15]) is None
    assert cc.peek_header(extended[:20]) is None  # the extended sizes are not all in
    assert cc.peek_header(extended[:24]).data_count == 70_000
