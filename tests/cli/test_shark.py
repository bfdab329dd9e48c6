"""epics-shark on the reference capture (as a file and on stdin) and on synthetic ones."""
from __future__ import annotations

import io
import re
import struct
import subprocess
import sys

import pytest

import caproto_core as cc
from epics_compat.shark import main
from epics_compat.shark.pcap import read_pcap

from paths import DATA

CAPTURE = DATA / "libca_rsrv.pcap"
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} "
                  r"(?P<src>[\d.]+:\d+) -> (?P<dst>[\d.]+:\d+) (?P<transport>UDP|TCP) "
                  r"(?P<what>\w+\(.*\)|\[.*\])(?: pv=(?P<pv>\S+))?$")


#: The capture's ports (the test session sets EPICS_CA_SERVER_PORT to its own IOC's).
PORTS = ["--server-port", "5064", "--repeater-port", "5065"]


def shark(capsys, *args: str) -> list[re.Match]:
    assert main([*args, *PORTS]) == 0
    lines = capsys.readouterr().out.splitlines()
    matches = [LINE.match(line) for line in lines]
    assert all(matches), [line for line, m in zip(lines, matches) if not m][:3]
    return matches


@pytest.fixture(scope="module")
def expected_messages() -> int:
    """How many messages the capture holds, counted with the core's readers."""
    capture = read_pcap(CAPTURE)
    count = sum(len(cc.read_datagram(payload, cc.CLIENT if dst[1] == 5064 else cc.SERVER))
                for _, dst, payload in capture.datagrams)
    for _, _, to_server, to_client in capture.connections():
        count += len(cc.read_stream(to_server, cc.CLIENT, None)[0])
        count += len(cc.read_stream(to_client, cc.SERVER, None)[0])
    return count


def test_every_message_is_printed_once(capsys, expected_messages):
    lines = shark(capsys, str(CAPTURE))
    messages = [m for m in lines if not m["what"].startswith("[")]
    notes = [m["what"] for m in lines if m["what"].startswith("[")]
    assert len(messages) == expected_messages
    assert notes and all("lost by the capture" in note for note in notes)
    kinds = {m["what"].split("(")[0] for m in messages}
    assert {"SearchRequest", "SearchResponse", "CreateChanRequest", "ReadNotifyResponse",
            "EventAddResponse", "WriteNotifyResponse",
            "ClearChannelResponse", "EventCancelResponse"} <= kinds


def test_pv_filter_follows_the_channel_through_its_ids(capsys):
    lines = shark(capsys, str(CAPTURE), "--pv", "cap:ai")
    assert {m["pv"] for m in lines} == {"cap:ai"}
    kinds = {m["what"].split("(")[0] for m in lines}
    # Named in the search and CREATE_CHAN; found again by sid, ioid, subscription id.
    assert {"SearchRequest", "CreateChanRequest", "CreateChanResponse", "ReadNotifyRequest",
            "ReadNotifyResponse"} <= kinds
    everything = shark(capsys, str(CAPTURE))
    assert len(lines) == sum(m["pv"] == "cap:ai" for m in everything)


def test_command_filter_takes_class_or_command_names(capsys):
    by_class = shark(capsys, str(CAPTURE), "--command", "CreateChanRequest")
    assert by_class and {m["what"].split("(")[0] for m in by_class} == {"CreateChanRequest"}
    by_command = shark(capsys, str(CAPTURE), "--command", "create_chan")
    assert {m["what"].split("(")[0] for m in by_command} == \
        {"CreateChanRequest", "CreateChanResponse"}
    with pytest.raises(SystemExit, match="unknown command NOSUCH"):
        main([str(CAPTURE), "--command", "nosuch", *PORTS])


def test_a_pcap_stream_on_stdin_gives_the_same_lines():
    """As with 'tcpdump -w - port 5064 | epics-shark', in a process of its own."""
    from_file = subprocess.run([sys.executable, "-m", "epics_compat.shark", str(CAPTURE),
                                *PORTS],
                               capture_output=True, timeout=120, check=True).stdout
    with open(CAPTURE, "rb") as stream:
        from_stdin = subprocess.run([sys.executable, "-m", "epics_compat.shark", *PORTS],
                                    stdin=stream, capture_output=True, timeout=120,
                                    check=True).stdout
    assert from_stdin == from_file and from_file.count(b"\n") > 2000


def _frame(src, dst, seq, payload, flags=0x18):
    tcp = struct.pack("!HHIIBBHHH", src[1], dst[1], seq, 0, 5 << 4, flags, 0, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0,
                     bytes(map(int, src[0].split("."))), bytes(map(int, dst[0].split("."))))
    return bytes(12) + b"\x08\x00" + ip + tcp


def _pcap(frames) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
    for frame in frames:
        out += struct.pack("<IIII", 1_700_000_000, 5, len(frame), len(frame)) + frame
    return out


def test_a_lost_segment_is_said_and_framing_survives(tmp_path, capsys):
    """A read reply whose middle segment the capture lost: a note, then the reply (its
    lost bytes read as zeros) and the message after it, both decoded."""
    client, server = ("10.0.0.1", 40000), ("10.0.0.2", 5064)
    reply = bytes(cc.ReadNotifyResponse(list(range(100)), 6, 100, 1, 7))
    echo = bytes(cc.EchoResponse())
    isn = 1000
    frames = [_frame(server, client, isn, b"", flags=0x12),
              _frame(server, client, isn + 1, reply[:300]),
              _frame(server, client, isn + 1 + 400, reply[400:] + echo)]
    path = tmp_path / "lost.pcap"
    path.write_bytes(_pcap(frames))
    lines = shark(capsys, str(path))
    assert [m["what"] if m["what"].startswith("[") else m["what"].split("(")[0]
            for m in lines] == \
        ["[100 bytes lost by the capture at stream offset 300 (read as zeros)]",
         "ReadNotifyResponse", "EchoResponse"]


def test_not_a_capture(tmp_path, capsys):
    path = tmp_path / "x.pcap"
    path.write_bytes(b"this is not a pcap file at all")
    assert main([str(path)]) == 1
    assert "not a classic pcap file" in capsys.readouterr().err


def test_stream_reader_reads_what_is_there_as_it_comes():
    """The live reader yields each packet before the stream ends (a growing pipe)."""
    from epics_compat.shark.pcap import packets
    client, server = ("10.0.0.1", 40000), ("10.0.0.2", 5064)
    data = _pcap([_frame(client, server, 1, bytes(cc.EchoRequest()))])
    reader = packets(io.BytesIO(data))
    assert next(reader).payload == bytes(cc.EchoRequest())
