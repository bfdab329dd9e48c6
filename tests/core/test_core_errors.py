"""The texts of the core's errors: a log line alone must say what the peer did wrong.

Reader errors name the command (or message class), the offset in the buffer and what was
expected; state errors name the message class, the channel and the state; encoding
errors name the value, the type and the limit.
"""
from __future__ import annotations

import struct

import pytest

import caproto_core as cc
from caproto_core._messages import HEADER

ChannelType = cc.ChannelType
ECHO = bytes(cc.EchoResponse())  # a valid 16-byte message to put bad ones after


def error_of(data, role, **kwargs) -> str:
    with pytest.raises(cc.RemoteProtocolError) as info:
        cc.read_stream(data, role, **kwargs)
    return str(info.value)


def test_unknown_command_code():
    text = error_of(ECHO + HEADER.pack(99, 0, 0, 0, 0, 0), cc.SERVER)
    assert text.startswith("unknown command code 99 at offset 16 is not one a server sends")
    assert "expected one of" in text and "ReadNotifyResponse" in text
    assert "ReadNotifyRequest" not in text  # the expectation is for this direction


def test_obsolete_command_and_wrong_direction():
    text = error_of(HEADER.pack(cc.Command.READ, 0, 0, 0, 0, 0), cc.CLIENT)
    assert text.startswith("command READ (3) at offset 0 is not one a client sends")
    text = error_of(bytes(cc.AccessRightsResponse(1, 3)), cc.CLIENT)
    assert text.startswith("command ACCESS_RIGHTS (22) at offset 0 is not one a client sends")
    text = error_of(bytes(cc.ClientNameRequest("me")), cc.SERVER)
    assert text.startswith("command CLIENT_NAME (20) at offset 0 is not one a server sends")
    text = error_of(ECHO * 2 + bytes(cc.RsrvIsUpResponse(13, 5064, 1, "1.2.3.4")), cc.CLIENT)
    assert "RSRV_IS_UP (13) at offset 32 is not one a client sends" in text
    assert "SearchRequest" in text


def test_payload_over_the_maximum():
    header = HEADER.pack(cc.Command.READ_NOTIFY, 0xFFFF, 6, 0, 1, 2) + struct.pack(
        ">II", 100_000, 12_500)
    text = error_of(ECHO + header, cc.SERVER, max_payload_size=16384)
    assert text == ("ReadNotifyResponse at offset 16 announces a payload of 100000 bytes, "
                    "more than the maximum of 16384 (EPICS_CA_MAX_ARRAY_BYTES)")


def test_count_that_does_not_fit_the_payload():
    liar = cc.ReadNotifyResponse([1.0], ChannelType.TIME_DOUBLE, ioid=1, data_count=10)
    text = error_of(ECHO + bytes(liar), cc.SERVER)
    assert text == ("ReadNotifyResponse at offset 16: payload of 24 bytes is too short for 10 "
                    "element(s) of TIME_DOUBLE (type 20); expected at least 96 bytes")
    strings = cc.WriteNotifyRequest(["a", "b"], ChannelType.STRING, 1, 2, data_count=3)
    assert "3 element(s) of STRING (type 0); expected at least 120 bytes" in error_of(
        bytes(strings), cc.CLIENT)


def test_bad_data_type():
    raw = HEADER.pack(cc.Command.EVENT_ADD, 8, 39, 1, 1, 2) + bytes(8)
    assert error_of(ECHO + raw, cc.SERVER) == (
        "EventAddResponse at offset 16 has data type 39; expected a DBR type id 0..38")


def test_incomplete_datagram():
    with pytest.raises(cc.RemoteProtocolError) as info:
        cc.read_datagram(ECHO + ECHO[:10], cc.SERVER)
    assert str(info.value) == ("datagram of 26 bytes ends with an incomplete message at "
                               "offset 16: 10 bytes left, expected a header of 16 bytes or "
                               "more")
    search = bytes(cc.SearchRequest("cap:ai", 1))
    with pytest.raises(cc.RemoteProtocolError) as info:
        cc.read_datagram(search[:20], cc.CLIENT)
    assert str(info.value) == ("datagram of 20 bytes ends with an incomplete message at "
                               "offset 0: 20 bytes left, expected 24 bytes as its header "
                               "announces")


def test_decoding_errors_name_the_message_type_and_sizes():
    liar = cc.EventAddResponse([1, 2], ChannelType.LONG, subscriptionid=1, data_count=9)
    with pytest.raises(cc.RemoteProtocolError) as info:
        liar.decode()
    assert str(info.value) == ("EventAddResponse: LONG payload of 8 bytes is too short for 9 "
                               "element(s): 36 bytes needed")


def test_state_errors_name_class_channel_and_state():
    circuit = cc.VirtualCircuit(cc.CLIENT, ("10.0.0.1", 5064))
    circuit.send(cc.VersionRequest())
    channel = circuit.new_channel("motor:x.RBV", cid=7)
    circuit.send(channel.create())
    circuit.recv(bytes(cc.CreateChanResponse(6, 1, cid=7, sid=70)))
    circuit.send(channel.clear())
    with pytest.raises(cc.RemoteProtocolError) as info:
        circuit.recv(bytes(cc.CreateChanResponse(6, 1, cid=7, sid=70)))
    assert str(info.value) == ("CreateChanResponse is not allowed for channel 'motor:x.RBV' "
                               "(cid=7) in state 'closing'")
    with pytest.raises(cc.LocalProtocolError) as info:
        circuit.send(cc.ReadNotifyRequest(6, 1, sid=70, ioid=3))
    assert str(info.value) == ("ReadNotifyRequest is not allowed for channel 'motor:x.RBV' "
                               "(cid=7) in state 'closing'")
    with pytest.raises(cc.RemoteProtocolError) as info:
        circuit.recv(bytes(cc.WriteNotifyResponse(6, 1, ioid=12)))
    assert str(info.value).startswith(
        "WriteNotifyResponse names no known channel or request: ioid 12 is no pending read "
        "or write on the circuit to ('10.0.0.1', 5064) (circuit state: 'connected'")


def test_encoding_errors_name_value_type_and_limit():
    with pytest.raises(ValueError) as info:
        cc.encode_payload(ChannelType.INT, [1, 40000])
    assert str(info.value) == ("cannot encode [1, 40000] as INT: values must be finite and "
                               "within -32768..32767")
    with pytest.raises(ValueError) as info:
        cc.encode_payload(ChannelType.STRING, "y" * 40)
    assert str(info.value) == (f"string {'y' * 40!r} is 40 bytes long; at most 39 fit in a "
                               f"40-byte field")
    with pytest.raises(ValueError, match=r"units 'millimetres' is 11 bytes long; at most 7"):
        cc.encode_payload(ChannelType.CTRL_DOUBLE, 1.0, {"units": "millimetres"})
    with pytest.raises(TypeError, match=r"cannot send text or bytes .* as DOUBLE numbers"):
        cc.encode_payload(ChannelType.DOUBLE, "1.5")
    with pytest.raises(ValueError, match=r"105 is not a DBR type id \(valid: 0..38\)"):
        cc.encode_payload(105, 1)
    with pytest.raises(ValueError, match=r"'timestamp' is not a DBR type family \(valid: "
                                         r"native, sts, time, gr, ctrl\)"):
        cc.promote(ChannelType.DOUBLE, "timestamp")
    with pytest.raises(ValueError, match=r"ReadNotifyRequest: parameter1 \(sid\) -1 does not "
                                         r"fit its header field"):
        cc.ReadNotifyRequest(6, 1, sid=-1, ioid=1)


def test_errors_are_protocol_errors():
    assert issubclass(cc.LocalProtocolError, cc.ProtocolError)
    assert issubclass(cc.RemoteProtocolError, cc.ProtocolError)
    assert issubclass(cc.ProtocolError, cc.CaprotoCoreError)
    with pytest.raises(TypeError, match="role must be caproto_core.CLIENT or"):
        cc.read_stream(ECHO, "server")
