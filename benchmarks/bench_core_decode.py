"""Decode throughput of caproto_core (targets from issue 2).

    python benchmarks/bench_core_decode.py [--quick]

(a) one 1,000,000-element DOUBLE ReadNotifyResponse: read_stream + .data (a native-order
    numpy array), in GB/s of payload; target >= 2 GB/s.
(b) a typical mix of small messages (count-1 reads and monitor updates with time and
    control metadata, write confirmations, echoes) through read_stream, in messages per
    second, without and with .data on every data message; target >= 300,000 /s.
(c) for information: the same monitor updates through a client VirtualCircuit.recv,
    which adds the state-table checks and id lookups.

Each measurement is repeated; the median is reported.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

import numpy  # noqa: E402

import caproto_core as cc  # noqa: E402

ChannelType = cc.ChannelType
GB = 1e9
TARGET_GBPS = 2.0
TARGET_MESSAGES = 300_000


def median_time(function, repeat: int) -> float:
    """Median wall time of ``function()`` over ``repeat`` runs (after one warm-up)."""
    function()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


# --- (a) one large array --------------------------------------------------------------------------

def large_array(repeat: int) -> float:
    values = numpy.random.default_rng(1).standard_normal(1_000_000)
    raw = bytes(cc.ReadNotifyResponse(values, ChannelType.DOUBLE, ioid=1))

    def decode():
        (message,), _ = cc.read_stream(raw, cc.SERVER)
        data = message.data
        assert data.dtype.isnative and len(data) == 1_000_000
    seconds = median_time(decode, repeat)
    return 8_000_000 / seconds / GB


# --- (b) small messages ------------------------------------------------------------------------------

def small_mix() -> list[cc.Message]:
    """One round of what a client typically receives from a busy server."""
    stamp = {"seconds": 1_164_473_148, "nanoseconds": 759_144_045, "status": 0,
             "severity": 0}
    ctrl = {"precision": 4, "units": "mm", "upper_disp_limit": 100.0,
            "lower_disp_limit": -100.0, "upper_ctrl_limit": 100.0, "lower_ctrl_limit": -100.0}
    return [
        cc.ReadNotifyResponse(3.25, ChannelType.TIME_DOUBLE, ioid=1, metadata=stamp),
        cc.ReadNotifyResponse(3.25, ChannelType.DOUBLE, ioid=2),
        cc.ReadNotifyResponse(3.25, ChannelType.CTRL_DOUBLE, ioid=3, metadata=ctrl),
        cc.EventAddResponse(1.5, ChannelType.TIME_DOUBLE, subscriptionid=4, metadata=stamp),
        cc.EventAddResponse(2.5, ChannelType.TIME_DOUBLE, subscriptionid=5, metadata=stamp),
        cc.EventAddResponse(2, ChannelType.TIME_ENUM, subscriptionid=6, metadata=stamp),
        cc.EventAddResponse("hello world", ChannelType.TIME_STRING, subscriptionid=7,
                            metadata=stamp),
        cc.WriteNotifyResponse(ChannelType.DOUBLE, 1, ioid=8),
        cc.EchoResponse(),
    ]


def small_messages(repeat: int, rounds: int = 2_000) -> tuple[float, float]:
    mix = small_mix()
    raw = b"".join(bytes(m) for m in mix) * rounds
    count = len(mix) * rounds
    data_classes = cc.DATA_MESSAGES

    def read_only():
        messages, consumed = cc.read_stream(raw, cc.SERVER)
        assert consumed == len(raw)

    def read_and_decode():
        messages, _ = cc.read_stream(raw, cc.SERVER)
        for message in messages:
            if isinstance(message, data_classes):
                message.data
    return (count / median_time(read_only, repeat),
            count / median_time(read_and_decode, repeat))


# --- (c) through a circuit ------------------------------------------------------------------------

def circuit_updates(repeat: int, rounds: int = 2_000) -> float:
    circuit = cc.VirtualCircuit(cc.CLIENT, ("127.0.0.1", 5064))
    circuit.send(cc.VersionRequest())
    channel = circuit.new_channel("bench:ai", cid=1)
    circuit.send(channel.create())
    circuit.recv(bytes(cc.CreateChanResponse(ChannelType.DOUBLE, 1, cid=1, sid=1)))
    subscription = channel.subscribe("time", subscriptionid=10)
    circuit.send(subscription)
    stamp = {"seconds": 1_164_473_148, "nanoseconds": 5}
    raw = b"".join(bytes(cc.EventAddResponse(float(i), ChannelType.TIME_DOUBLE, 10,
                                             metadata=stamp)) for i in range(8)) * rounds
    count = 8 * rounds

    def receive():
        for message in circuit.recv(raw):
            message.data
    return count / median_time(receive, repeat)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke test)")
    args = parser.parse_args(argv)
    repeat = 5 if args.quick else 31

    gbps = large_array(repeat)
    read_rate, decode_rate = small_messages(repeat)
    circuit_rate = circuit_updates(repeat)

    rows = [
        ("1M DOUBLE read_stream + .data", f"{gbps:8.2f} GB/s", f">= {TARGET_GBPS} GB/s",
         gbps >= TARGET_GBPS),
        ("small messages, read_stream", f"{read_rate:10,.0f} /s", f">= {TARGET_MESSAGES:,} /s",
         read_rate >= TARGET_MESSAGES),
        ("small messages, read_stream + .data", f"{decode_rate:10,.0f} /s",
         f">= {TARGET_MESSAGES:,} /s", decode_rate >= TARGET_MESSAGES),
        ("monitor updates, VirtualCircuit.recv + .data", f"{circuit_rate:10,.0f} /s", "-", None),
    ]
    print(f"caproto_core decode benchmark (median of {repeat} runs; Python "
          f"{sys.version.split()[0]}, numpy {numpy.__version__})")
    width = max(len(row[0]) for row in rows)
    print(f"{'measurement':<{width}}  {'result':>15}  {'target':>14}")
    for name, value, target, ok in rows:
        verdict = "" if ok is None else ("ok" if ok else "MISSED")
        print(f"{name:<{width}}  {value:>15}  {target:>14}  {verdict}")
    return 0 if all(ok is not False for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
