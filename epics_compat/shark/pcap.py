"""Reading pcap captures with ``struct`` only: packets as they come, TCP put back in order.

Classic pcap files or streams (not pcapng) of IPv4 over Ethernet, Linux "cooked" capture
(``tcpdump -i any``), raw IP or BSD loopback. ``packets`` yields UDP datagrams and TCP
segments one by one, so a live ``tcpdump -w -`` pipe can be read as it grows;
``TcpStream`` puts the segments of one connection direction back in sequence order
(retransmitted, duplicated or reordered segments give each byte once), and ``read_pcap``
does both for a whole file.

Segments the capture lost (later ones arrived, the hole was never filled) leave gaps:
the missing bytes read as zeros, so that offsets, and so CA message framing, stay right,
and the stream says where they are. In ``tests/data/libca_rsrv.pcap`` all gaps fall inside
the payloads of large array responses.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

Addr = tuple[str, int]

CA_SERVER_PORT = 5064
CA_REPEATER_PORT = 5065

_PROTO_TCP = 6
_PROTO_UDP = 17
_TCP_SYN = 0x02
_ETHERTYPE_IPV4 = 0x0800

_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),  # microsecond timestamps, little-endian file
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),  # nanosecond timestamps
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}


class PcapError(ValueError):
    """The input is not a capture this reader understands."""


@dataclass
class Packet:
    """One UDP datagram or TCP segment, with its capture time (POSIX seconds)."""
    time: float
    source: Addr
    destination: Addr
    protocol: str  # 'udp' or 'tcp'
    payload: bytes
    seq: int = 0  # TCP sequence number of the first payload byte (or of the SYN)
    syn: bool = False


def _ip_offset_ethernet(frame: bytes) -> int | None:
    if len(frame) >= 14 and struct.unpack_from("!H", frame, 12)[0] == _ETHERTYPE_IPV4:
        return 14
    return None


def _ip_offset_cooked(frame: bytes) -> int | None:  # Linux SLL: protocol at 14
    if len(frame) >= 16 and struct.unpack_from("!H", frame, 14)[0] == _ETHERTYPE_IPV4:
        return 16
    return None


def _ip_offset_cooked2(frame: bytes) -> int | None:  # Linux SLL2: protocol first
    if len(frame) >= 20 and struct.unpack_from("!H", frame, 0)[0] == _ETHERTYPE_IPV4:
        return 20
    return None


def _ip_offset_null(frame: bytes) -> int | None:  # BSD loopback: 4-byte family
    return 4 if len(frame) >= 4 and frame[0] in (2, 0) and frame[3] in (2, 0) else None


#: Where the IPv4 header starts in a frame, by pcap link type.
_LINK_TYPES = {
    0: _ip_offset_null, 1: _ip_offset_ethernet, 101: lambda frame: 0,
    113: _ip_offset_cooked, 228: lambda frame: 0, 276: _ip_offset_cooked2,
}


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def packets(stream: BinaryIO, name: str = "capture") -> Iterator[Packet]:
    """The UDP datagrams and TCP segments of a pcap stream, as they are read."""
    header = _read_exactly(stream, 24)
    if len(header) < 24 or header[:4] not in _MAGIC:
        raise PcapError(f"{name}: not a classic pcap file (pcapng is not supported)")
    endian, tick = _MAGIC[header[:4]]
    link_type = struct.unpack_from(endian + "I", header, 20)[0] & 0x0FFFFFFF
    ip_offset = _LINK_TYPES.get(link_type)
    if ip_offset is None:
        raise PcapError(f"{name}: link type {link_type} is not supported (Ethernet, "
                        f"Linux cooked, raw IP and loopback are)")
    record = struct.Struct(endian + "IIII")
    position = 24
    while True:
        head = _read_exactly(stream, record.size)
        if not head:
            return
        if len(head) < record.size:
            raise PcapError(f"{name}: {len(head)} trailing bytes after the last packet")
        seconds, fraction, included, original = record.unpack(head)
        frame = _read_exactly(stream, included)
        position += record.size + included
        if len(frame) < included or included < original:
            raise PcapError(f"{name}: truncated packet at byte {position - included}")
        start = ip_offset(frame)
        if start is not None:
            packet = _ip_packet(frame, start, seconds + fraction * tick)
            if packet is not None:
                yield packet


def _ip_packet(frame: bytes, ip: int, time: float) -> Packet | None:
    if len(frame) < ip + 20 or frame[ip] >> 4 != 4:
        return None
    version_ihl, total_length, fragment, protocol = struct.unpack_from("!B1xH2xHxB", frame, ip)
    if fragment & 0x3FFF:  # more-fragments flag or a fragment offset
        raise PcapError("fragmented IPv4 packets are not supported")
    source_ip = ".".join(map(str, frame[ip + 12:ip + 16]))
    destination_ip = ".".join(map(str, frame[ip + 16:ip + 20]))
    body = ip + (version_ihl & 0x0F) * 4
    end = ip + total_length  # Ethernet may pad after the IP packet
    if protocol == _PROTO_UDP:
        source_port, destination_port = struct.unpack_from("!HH", frame, body)
        return Packet(time, (source_ip, source_port), (destination_ip, destination_port),
                      "udp", frame[body + 8:end])
    if protocol == _PROTO_TCP:
        source_port, destination_port, seq = struct.unpack_from("!HHI", frame, body)
        data_offset, flags = frame[body + 12] >> 4, frame[body + 13]
        return Packet(time, (source_ip, source_port), (destination_ip, destination_port),
                      "tcp", frame[body + data_offset * 4:end], seq, bool(flags & _TCP_SYN))
    return None


def _seq_diff(seq: int, base: int) -> int:
    """``seq - base`` in TCP's modulo 2**32 sequence space, in [-2**31, 2**31)."""
    return (seq - base + 2**31) % 2**32 - 2**31


class TcpStream:
    """One direction of a TCP connection, put back in order as segments arrive.

    ``add`` returns the bytes that became contiguous. Segments past a hole wait; once
    more than ``patience`` bytes wait (or at ``flush``), the hole is taken as lost: it
    reads as zeros and is noted in ``gaps`` as (offset, length).
    """

    def __init__(self, key: tuple[Addr, Addr], patience: int | None = None):
        self.key = key
        self.patience = patience
        self.next: int | None = None  # sequence number of the next byte expected
        self.offset = 0  # bytes handed out so far
        self.waiting: dict[int, bytes] = {}  # offset from `next` is not kept: by seq
        self.waiting_bytes = 0
        self.gaps: list[tuple[int, int]] = []
        self._seen_syn: int | None = None

    def add(self, packet: Packet) -> bytes:
        if packet.syn:
            if self._seen_syn is not None and self._seen_syn != packet.seq:
                raise PcapError(f"TCP {self.key}: a second connection on the same addresses")
            self._seen_syn = packet.seq
            if self.next is None:
                self.next = (packet.seq + 1) & 0xFFFFFFFF  # the SYN takes one number
        if not packet.payload:
            return b""
        if self.next is None:  # the capture began mid-connection
            self.next = packet.seq
        self.waiting[packet.seq] = self._longest(packet.seq, packet.payload)
        self.waiting_bytes += len(packet.payload)
        out = self._drain()
        if self.patience is not None and self.waiting_bytes > self.patience:
            out += self._skip_hole() + self._drain()
        return out

    def flush(self) -> bytes:
        """Everything still waiting, holes as zeros (the end of the capture)."""
        out = b""
        while self.waiting:
            out += self._skip_hole() + self._drain()
        return out

    def _longest(self, seq: int, payload: bytes) -> bytes:
        known = self.waiting.get(seq)
        if known is not None and len(known) > len(payload):
            if known[:len(payload)] != payload:
                raise PcapError(f"TCP stream {self.key}: retransmitted bytes differ")
            return known
        return payload

    def _drain(self) -> bytes:
        out = bytearray()
        progress = True
        assert self.next is not None  # known once the stream's first segment is in
        while progress and self.waiting:
            progress = False
            for seq in list(self.waiting):
                payload = self.waiting[seq]
                ahead = _seq_diff(seq, self.next)
                if ahead > 0:
                    continue
                del self.waiting[seq]
                self.waiting_bytes -= len(payload)
                new = payload[-ahead:] if ahead else payload
                if -ahead < len(payload):
                    out += new
                    self.next = (self.next + len(new)) & 0xFFFFFFFF
                progress = True
        self.offset += len(out)
        return bytes(out)

    def _skip_hole(self) -> bytes:
        expected = self.next
        assert expected is not None  # known once the stream's first segment is in
        nearest = min(self.waiting, key=lambda seq: _seq_diff(seq, expected))
        missing = _seq_diff(nearest, expected)
        if missing <= 0:
            return b""
        self.gaps.append((self.offset, missing))
        self.offset += missing
        self.next = nearest
        return bytes(missing)


@dataclass
class Capture:
    """UDP datagrams and reassembled TCP streams of one whole capture."""

    #: (source, destination, payload) of every UDP datagram, in capture order.
    datagrams: list[tuple[Addr, Addr, bytes]] = field(default_factory=list)
    #: Payload of each TCP connection direction, keyed by (source, destination), in the
    #: order the connections first appear.
    streams: dict[tuple[Addr, Addr], bytes] = field(default_factory=dict)
    #: Bytes the capture lost, as (offset, length) in ``streams[key]``, where they read
    #: as zeros. Keys without gaps are absent.
    gaps: dict[tuple[Addr, Addr], list[tuple[int, int]]] = field(default_factory=dict)

    @staticmethod
    def is_server(addr: Addr) -> bool:
        """True for the CA server's address (port 5064), for TCP and UDP alike."""
        return addr[1] == CA_SERVER_PORT

    def connections(self) -> list[tuple[Addr, Addr, bytes, bytes]]:
        """Each TCP connection as (client, server, client_to_server, server_to_client);
        a direction that carried no payload gives ``b""``."""
        seen: dict[tuple[Addr, Addr], None] = {}
        for source, destination in self.streams:
            client, server = ((destination, source) if self.is_server(source)
                              else (source, destination))
            if not self.is_server(server):
                raise PcapError(f"TCP connection {source} <-> {destination} has no end on "
                                f"port {CA_SERVER_PORT}")
            seen[(client, server)] = None
        return [(client, server, self.streams.get((client, server), b""),
                 self.streams.get((server, client), b"")) for client, server in seen]


def read_pcap(path: str | Path) -> Capture:
    """Read the UDP datagrams and TCP streams of the pcap file ``path``."""
    capture = Capture()
    streams: dict[tuple[Addr, Addr], TcpStream] = {}
    parts: dict[tuple[Addr, Addr], list[bytes]] = {}
    with open(path, "rb") as file:
        for packet in packets(file, str(path)):
            key = (packet.source, packet.destination)
            if packet.protocol == "udp":
                capture.datagrams.append((packet.source, packet.destination, packet.payload))
                continue
            stream = streams.setdefault(key, TcpStream(key))
            parts.setdefault(key, []).append(stream.add(packet))
    for key, stream in streams.items():
        data = b"".join(parts[key]) + stream.flush()
        if data:
            capture.streams[key] = data
            if stream.gaps:
                capture.gaps[key] = stream.gaps
    return capture
