"""From packets to Channel Access messages, with the PV each message is about.

``Conversation`` takes the packets of a capture in order and gives ``Line``s: one per
message, or a note where the capture lost bytes or held something that is not CA. It
keeps one ``TcpStream`` and one receive buffer per connection direction, and learns
channel names as the protocol hands out ids: a search or CREATE_CHAN names a client id
(cid), the server's answer pairs it with its id (sid), and requests pair the sid with an
I/O id (ioid) or a subscription id that the replies carry.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import caproto_core as core

from .pcap import Addr, Packet, TcpStream

#: Bytes of segments that may wait behind a hole in a live stream before the hole is
#: taken as lost (the capture dropped it; TCP would have resent it long before).
PATIENCE = 1 << 20


@dataclass
class Line:
    """One message (or a note) of the capture, as printed."""
    time: float
    source: Addr
    destination: Addr
    transport: str  # 'UDP' or 'TCP'
    message: core.Message | None = None
    note: str = ""
    pv: str | None = None

    def text(self) -> str:
        what = repr(self.message) if self.message is not None else f"[{self.note}]"
        about = f" pv={self.pv}" if self.pv is not None else ""
        return (f"{self.source[0]}:{self.source[1]} -> {self.destination[0]}:"
                f"{self.destination[1]} {self.transport} {what}{about}")


class _Direction:
    """One direction of a TCP connection: the reassembled bytes not yet parsed."""

    def __init__(self, key: tuple[Addr, Addr]):
        self.stream = TcpStream(key, patience=PATIENCE)
        self.buffer = bytearray()
        self.broken = False  # a header that is not CA: the rest is not parsed
        self.gaps_told = 0  # how many of stream.gaps have had their note


class Conversation:
    """The CA messages of a capture, fed packet by packet."""

    def __init__(self, server_port: int = core.DEFAULT_SERVER_PORT,
                 repeater_port: int = core.DEFAULT_REPEATER_PORT):
        self.server_port = server_port
        self.repeater_port = repeater_port
        self._directions: dict[tuple[Addr, Addr], _Direction] = {}
        self._last_time = 0.0
        # Channel names by the ids that stand for them (see the module docstring).
        self._by_cid: dict[tuple[str, int], str] = {}  # (client host, cid)
        self._by_sid: dict[tuple[Addr, Addr, int], str] = {}  # (client, server, sid)
        self._by_ioid: dict[tuple[Addr, Addr, int], str] = {}
        self._by_subscription: dict[tuple[Addr, Addr, int], str] = {}

    def feed(self, packet: Packet) -> list[Line]:
        self._last_time = packet.time
        if packet.protocol == "udp":
            return self._datagram(packet)
        return self._segment(packet)

    def finish(self) -> list[Line]:
        """What is left at the end of the capture: holes never filled, partial messages."""
        lines = []
        for (source, destination), direction in self._directions.items():
            template = Line(self._last_time, source, destination, "TCP")
            lines += self._receive(direction, direction.stream.flush(), template)
            if direction.buffer and not direction.broken:
                lines.append(self._note(template, f"{len(direction.buffer)} bytes of an "
                                                  f"incomplete message at the end"))
        return lines

    # --- UDP ----------------------------------------------------------------------------

    def _datagram(self, packet: Packet) -> list[Line]:
        template = Line(packet.time, packet.source, packet.destination, "UDP")
        try:
            messages = self._parse_datagram(packet)
        except core.ProtocolError as exc:
            return [self._note(template, f"not Channel Access ({len(packet.payload)} "
                                         f"bytes): {exc}")]
        return [self._line(template, message) for message in messages]

    def _parse_datagram(self, packet: Packet) -> list[core.Message]:
        if packet.destination[1] == self.server_port:
            return core.read_datagram(packet.payload, core.CLIENT)
        if packet.source[1] == self.server_port:
            return core.read_datagram(packet.payload, core.SERVER)
        # Repeater traffic: beacons (as a server sends them) or a client's registration.
        try:
            return core.read_datagram(packet.payload, core.SERVER)
        except core.ProtocolError:
            return core.read_datagram(packet.payload, core.CLIENT)

    # --- TCP ----------------------------------------------------------------------------

    def _segment(self, packet: Packet) -> list[Line]:
        key = (packet.source, packet.destination)
        direction = self._directions.get(key)
        if direction is None:
            direction = self._directions[key] = _Direction(key)
        template = Line(packet.time, packet.source, packet.destination, "TCP")
        return self._receive(direction, direction.stream.add(packet), template)

    def _receive(self, direction: _Direction, data: bytes, template: Line) -> list[Line]:
        lines = []
        for offset, length in direction.stream.gaps[direction.gaps_told:]:
            lines.append(self._note(template, f"{length} bytes lost by the capture at "
                                              f"stream offset {offset} (read as zeros)"))
        direction.gaps_told = len(direction.stream.gaps)
        if direction.broken or not data:
            return lines
        direction.buffer += data
        role = core.CLIENT if template.destination[1] == self.server_port else core.SERVER
        while True:
            size = core.message_size(direction.buffer)
            if size is None or len(direction.buffer) < size:
                return lines
            try:
                messages, used = core.read_stream(bytes(direction.buffer[:size]), role)
            except core.ProtocolError as exc:
                direction.broken = True
                return lines + [self._note(template, f"not Channel Access, the rest of this "
                                                     f"stream is skipped: {exc}")]
            del direction.buffer[:used]
            lines += [self._line(template, message) for message in messages]

    # --- lines and names ----------------------------------------------------------------

    def _note(self, template: Line, note: str) -> Line:
        return Line(template.time, template.source, template.destination,
                    template.transport, note=note)

    def _line(self, template: Line, message: core.Message) -> Line:
        line = Line(template.time, template.source, template.destination,
                    template.transport, message)
        line.pv = self._name(template, message)
        return line

    def _name(self, template: Line, message: Any) -> str | None:
        # Any: which id fields a message has is read from its FIELDS below.
        to_server = template.destination[1] == self.server_port
        client, server = ((template.source, template.destination) if to_server
                          else (template.destination, template.source))
        fields = getattr(message, "FIELDS", ())
        cid = getattr(message, "cid", None) if "cid" in fields else None
        name = getattr(message, "name", None) if "name" in fields else None
        if name is not None and cid is not None:
            self._by_cid[(client[0], cid)] = name
            return name
        if cid is not None:
            name = self._by_cid.get((client[0], cid))
            if "sid" in fields and name is not None and not to_server:
                self._by_sid[(client, server, message.sid)] = name
            if name is not None:
                return name
        if "sid" in fields:
            name = self._by_sid.get((client, server, message.sid))
            if "ioid" in fields:
                self._remember(self._by_ioid, (client, server, message.ioid), name)
            if "subscriptionid" in fields:
                self._remember(self._by_subscription,
                               (client, server, message.subscriptionid), name)
            return name
        if "ioid" in fields:
            return self._by_ioid.get((client, server, message.ioid))
        if "subscriptionid" in fields:
            return self._by_subscription.get((client, server, message.subscriptionid))
        return None

    @staticmethod
    def _remember(table: dict, key: tuple, name: str | None) -> None:
        if name is not None:
            table[key] = name
