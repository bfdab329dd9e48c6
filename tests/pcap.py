"""A small pcap reader for the reference captures in ``../shared/captures/``.

Reads classic pcap files (not pcapng) with Ethernet link type, IPv4, UDP and
TCP, using only ``struct``. UDP datagrams are kept one by one, in capture
order. TCP payloads are reassembled per connection direction by sequence
number, so retransmitted, duplicated or reordered segments give the bytes the
receiving application saw, exactly once.

Segments the capture lost (the receiver's ACKs show they were sent) leave gaps:
the missing bytes are filled with zeros, so that offsets, and so CA message
framing, stay right, and ``Capture.gaps`` says where they are. In
``libca_rsrv.pcap`` all gaps fall inside the payloads of large array responses.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

Addr = tuple[str, int]

CA_SERVER_PORT = 5064
CA_REPEATER_PORT = 5065

#: ``../shared/captures`` as seen from this repository (``shared/`` sits beside it).
CAPTURES_DIR = Path(__file__).resolve().parents[2] / "shared" / "captures"

_LINKTYPE_ETHERNET = 1
_ETHERTYPE_IPV4 = 0x0800
_PROTO_TCP = 6
_PROTO_UDP = 17
_TCP_SYN = 0x02

_MAGIC = {
    b"\xd4\xc3\xb2\xa1": "<",  # microsecond timestamps, little-endian file
    b"\xa1\xb2\xc3\xd4": ">",
    b"\x4d\x3c\xb2\xa1": "<",  # nanosecond timestamps
    b"\xa1\xb2\x3c\x4d": ">",
}


class PcapError(ValueError):
    """The file is not a capture this reader understands."""


@dataclass
class Capture:
    """UDP datagrams and reassembled TCP streams of one capture file."""

    #: (source, destination, payload) of every UDP datagram, in capture order.
    datagrams: list[tuple[Addr, Addr, bytes]] = field(default_factory=list)
    #: Payload of each TCP connection direction, keyed by (source, destination),
    #: in the order the connections first appear.
    streams: dict[tuple[Addr, Addr], bytes] = field(default_factory=dict)
    #: Bytes the capture lost, as (offset, length) in ``streams[key]``, where they
    #: read as zeros. Keys without gaps are absent.
    gaps: dict[tuple[Addr, Addr], list[tuple[int, int]]] = field(default_factory=dict)

    @staticmethod
    def is_server(addr: Addr) -> bool:
        """True for the CA server's address (port 5064), for TCP and UDP alike."""
        return addr[1] == CA_SERVER_PORT

    def connections(self) -> list[tuple[Addr, Addr, bytes, bytes]]:
        """Each TCP connection as (client, server, client_to_server, server_to_client).

        A direction that carried no payload gives ``b""``.
        """
        seen: dict[tuple[Addr, Addr], None] = {}
        for src, dst in self.streams:
            client, server = (dst, src) if self.is_server(src) else (src, dst)
            if not self.is_server(server):
                raise PcapError(f"TCP connection {src} <-> {dst} has no end on port {CA_SERVER_PORT}")
            seen[(client, server)] = None
        return [
            (client, server, self.streams.get((client, server), b""),
             self.streams.get((server, client), b""))
            for client, server in seen
        ]


class _Direction:
    """Segments of one TCP connection direction, placed by sequence number."""

    def __init__(self) -> None:
        self.isn: int | None = None  # sequence number of the SYN
        self.segments: list[tuple[int, bytes]] = []  # (seq, payload) as captured

    def data(self, key: tuple[Addr, Addr]) -> tuple[bytes, list[tuple[int, int]]]:
        """The payload in sequence order, and the (offset, length) of each gap."""
        # Without a SYN the capture began mid-connection: start at the first segment.
        base = self.segments[0][0] if self.isn is None else self.isn + 1  # SYN takes one
        placed = sorted((_seq_diff(seq, base), payload) for seq, payload in self.segments)
        out = bytearray()
        gaps = []
        for offset, payload in placed:
            if offset < 0:  # bytes from before the first segment we know of
                payload, offset = payload[-offset:], 0
            end = offset + len(payload)
            if offset > len(out):
                gaps.append((len(out), offset - len(out)))
                out += bytes(offset - len(out))
            overlap = out[offset:end]
            if payload[: len(overlap)] != overlap:
                raise PcapError(f"TCP stream {key}: retransmitted bytes differ at offset {offset}")
            out += payload[len(overlap):]
        return bytes(out), gaps


def _seq_diff(seq: int, base: int) -> int:
    """``seq - base`` in TCP's modulo 2**32 sequence space, in [-2**31, 2**31)."""
    return (seq - base + 2**31) % 2**32 - 2**31


def read_pcap(path: str | Path) -> Capture:
    """Read the UDP datagrams and TCP streams of the pcap file ``path``."""
    raw = Path(path).read_bytes()
    if len(raw) < 24 or raw[:4] not in _MAGIC:
        raise PcapError(f"{path}: not a classic pcap file (pcapng is not supported)")
    endian = _MAGIC[raw[:4]]
    linktype = struct.unpack_from(endian + "I", raw, 20)[0]
    if linktype != _LINKTYPE_ETHERNET:
        raise PcapError(f"{path}: link type {linktype}, only Ethernet (1) is supported")

    capture = Capture()
    directions: dict[tuple[Addr, Addr], _Direction] = {}
    record = struct.Struct(endian + "IIII")
    pos = 24
    while pos + record.size <= len(raw):
        _, _, incl_len, orig_len = record.unpack_from(raw, pos)
        pos += record.size
        frame = raw[pos:pos + incl_len]
        pos += incl_len
        if len(frame) < incl_len or incl_len < orig_len:
            raise PcapError(f"{path}: truncated packet at byte {pos - incl_len}")
        _read_frame(frame, capture, directions)
    if pos != len(raw):
        raise PcapError(f"{path}: {len(raw) - pos} trailing bytes after the last packet")

    for key, direction in directions.items():
        if direction.segments:
            capture.streams[key], gaps = direction.data(key)
            if gaps:
                capture.gaps[key] = gaps
    return capture


def _read_frame(frame: bytes, capture: Capture, directions: dict) -> None:
    if len(frame) < 14 or struct.unpack_from("!H", frame, 12)[0] != _ETHERTYPE_IPV4:
        return  # ARP, IPv6, ...: not CA traffic in these captures
    ip = 14
    version_ihl, total_len, frag, proto = struct.unpack_from("!B1xH2xHxB", frame, ip)
    if version_ihl >> 4 != 4:
        return
    if frag & 0x3FFF:  # more-fragments flag or a fragment offset
        raise PcapError("fragmented IPv4 packets are not supported")
    src_ip = ".".join(map(str, frame[ip + 12:ip + 16]))
    dst_ip = ".".join(map(str, frame[ip + 16:ip + 20]))
    body = ip + (version_ihl & 0x0F) * 4
    end = ip + total_len  # ignore Ethernet padding after the IP packet
    if proto == _PROTO_UDP:
        sport, dport = struct.unpack_from("!HH", frame, body)
        capture.datagrams.append(((src_ip, sport), (dst_ip, dport), frame[body + 8:end]))
    elif proto == _PROTO_TCP:
        sport, dport, seq = struct.unpack_from("!HHI", frame, body)
        data_offset, flags = frame[body + 12] >> 4, frame[body + 13]
        key = ((src_ip, sport), (dst_ip, dport))
        direction = directions.setdefault(key, _Direction())
        if flags & _TCP_SYN:
            if direction.isn is not None and direction.isn != seq:
                raise PcapError(f"TCP {key}: a second connection on the same addresses")
            direction.isn = seq
        payload = frame[body + data_offset * 4:end]
        if payload:
            direction.segments.append((seq, payload))
