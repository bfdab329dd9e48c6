"""Sanity checks of the pcap reader (epics_compat.shark.pcap), on the reference capture
and on synthetic packets."""
from __future__ import annotations

import struct

import pytest

from epics_compat.shark.pcap import CA_SERVER_PORT, read_pcap

from paths import DATA

CAPTURE = DATA / "libca_rsrv.pcap"
VERSION = 0  # CA command id of VERSION


@pytest.fixture(scope="module")
def capture():
    return read_pcap(CAPTURE)


def ca_message_spans(data: bytes):
    """(start, header length, payload length) of each CA message in a TCP stream."""
    pos = 0
    while pos < len(data):
        _, size, _, count = struct.unpack_from("!HHHH", data, pos)
        header = 16
        if size == 0xFFFF and count == 0:  # extended header: 32-bit size and count
            size = struct.unpack_from("!I", data, pos + 16)[0]
            header = 24
        yield pos, header, size
        pos += header + size


def test_capture_has_tcp_and_udp(capture):
    assert len(capture.streams) > 0
    assert len(capture.datagrams) > 0


def test_every_tcp_stream_starts_with_version(capture):
    for key, data in capture.streams.items():
        assert struct.unpack_from("!H", data)[0] == VERSION, key


def test_searches_start_with_version(capture):
    searches = [p for _, dst, p in capture.datagrams if dst[1] == CA_SERVER_PORT]
    assert searches
    for payload in searches:
        assert struct.unpack_from("!H", payload)[0] == VERSION


def test_connections_pair_client_and_server(capture):
    connections = capture.connections()
    assert connections
    for client, server, to_server, to_client in connections:
        assert server[1] == CA_SERVER_PORT and client[1] != CA_SERVER_PORT
        assert to_server and to_client


def test_streams_frame_exactly_and_gaps_fall_inside_payloads(capture):
    # Reassembly is right if the CA headers chain from the first byte to the
    # last; zero-filled gaps must not touch a header, or decoding would derail.
    for key, data in capture.streams.items():
        spans = list(ca_message_spans(data))
        last_start, last_header, last_size = spans[-1]
        assert last_start + last_header + last_size == len(data), key
        for gap_start, gap_len in capture.gaps.get(key, []):
            assert any(
                start + header <= gap_start and gap_start + gap_len <= start + header + size
                for start, header, size in spans
            ), (key, gap_start, gap_len)


# ---- synthetic captures -----------------------------------------------------

def _frame(src, dst, *, udp=b"", tcp=None):
    """One Ethernet + IPv4 frame; ``tcp`` is (seq, flags, payload)."""
    if tcp is None:
        body = struct.pack("!HHHH", src[1], dst[1], 8 + len(udp), 0) + udp
        proto = 17
    else:
        seq, flags, payload = tcp
        body = struct.pack("!HHIIBBHHH", src[1], dst[1], seq, 0, 5 << 4, flags, 0, 0, 0) + payload
        proto = 6
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 0, 0x4000, 64, proto, 0,
        bytes(map(int, src[0].split("."))), bytes(map(int, dst[0].split("."))),
    )
    return bytes(12) + b"\x08\x00" + ip + body


def _pcap(frames):
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
    for frame in frames:
        out += struct.pack("<IIII", 0, 0, len(frame), len(frame)) + frame
    return out


def test_reassembly_handles_reorder_duplicates_and_gaps(tmp_path):
    c, s = ("127.0.0.1", 40000), ("127.0.0.1", CA_SERVER_PORT)
    isn = 2**32 - 3  # sequence numbers wrap around inside the stream
    frames = [
        _frame(c, s, tcp=(isn, 0x02, b"")),  # SYN
        _frame(c, s, tcp=(isn + 1, 0x18, b"abc")),
        _frame(c, s, tcp=((isn + 7) % 2**32, 0x18, b"ghi")),  # before "def": reordered
        _frame(c, s, tcp=((isn + 4) % 2**32, 0x18, b"def")),
        _frame(c, s, tcp=(isn + 1, 0x18, b"abcd")),  # retransmit, longer than first
        _frame(c, s, tcp=((isn + 7) % 2**32, 0x10, b"")),  # bare ACK
        _frame(c, s, tcp=((isn + 12) % 2**32, 0x18, b"lm")),  # "jk" lost
        _frame(s, c, udp=b"datagram"),
    ]
    path = tmp_path / "synthetic.pcap"
    path.write_bytes(_pcap(frames))
    cap = read_pcap(path)
    assert cap.streams == {(c, s): b"abcdefghi\0\0lm"}
    assert cap.gaps == {(c, s): [(9, 2)]}
    assert cap.datagrams == [(s, c, b"datagram")]
    assert cap.connections() == [(c, s, b"abcdefghi\0\0lm", b"")]
