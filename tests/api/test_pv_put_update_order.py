"""put(wait=True) then get() on a monitored PV when the server's update for the put comes
after its completion, and an older update comes with it: servers send updates and
completions from different threads, so this order happens (a CI run caught it)."""
from __future__ import annotations

import os
import subprocess
import sys
import threading

import caproto_core as core
from ioc import client_env
from reliability import RawServer

SCRIPT = """
import epics_compat as epics
pv = epics.PV("f")
assert pv.wait_for_connection(5)
print(pv.get())
pv.put(2.0, wait=True)
print(pv.get())
print(pv.char_value)
"""


def play_a_server_whose_update_lags(raw: RawServer, stop: threading.Event) -> None:
    """One DOUBLE channel "f" at 1.0. A WRITE_NOTIFY is answered with the update of
    the value before it (as if late), then the completion; the new value's own update
    never comes, and reads answer the current value."""
    sock = raw.accept(timeout=10)
    circuit, _ = raw.serve_channel(sock)
    value = 1.0
    time_double = core.ChannelType.TIME_DOUBLE
    while not stop.is_set():
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        if not data:
            return
        out = []
        for message in circuit.recv(data):
            if isinstance(message, core.EventAddRequest):
                out.append(core.EventAddResponse([value], message.data_type,
                                                 message.subscriptionid))
                subscription = message
            elif isinstance(message, core.ReadNotifyRequest):
                out.append(core.ReadNotifyResponse([value], message.data_type,
                                                   message.ioid, data_count=1))
            elif isinstance(message, core.WriteNotifyRequest):
                old, value = value, float(message.data[0])
                out.append(core.EventAddResponse([old], time_double,
                                                 subscription.subscriptionid))
                out.append(core.WriteNotifyResponse(message.data_type, 1, message.ioid))
        if out:
            sock.sendall(b"".join(bytes(b) for b in circuit.send(*out)))


def test_get_after_put_wait_gives_the_put_value_when_an_older_update_comes_with_the_completion():
    raw = RawServer(["f"])
    stop = threading.Event()
    server = threading.Thread(target=play_a_server_whose_update_lags, args=(raw, stop),
                              daemon=True)
    server.start()
    try:
        env = {**os.environ, **client_env(raw.port)}
        result = subprocess.run([sys.executable, "-c", SCRIPT], env=env,
                                capture_output=True, text=True, timeout=60)
    finally:
        stop.set()
        raw.close()
        server.join(5)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1.0", "2.0", "2"]  # char_value: PREC 0


GROWING_SCRIPT = """
import epics_compat as epics
pv = epics.PV("w")
assert pv.wait_for_connection(5)
pv.put("some text", wait=True)
print(repr(pv.get(as_string=True)))
"""


def play_a_server_whose_first_update_lags(raw: RawServer, stop: threading.Event) -> None:
    """One CHAR waveform "w" of 128 elements holding one ("s"). The subscription's first
    update waits until a WRITE_NOTIFY comes, and then precedes its completion with the
    old, one-element value; reads answer the elements asked for (all of the current
    value for a count of 0), padded with zeros as an IOC pads them."""
    sock = raw.accept()
    circuit, _ = raw.serve_channel(sock, core.ChannelType.CHAR, 128)
    value = [ord("s")]
    subscription = None
    while not stop.is_set():
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        if not data:
            return
        out = []
        for message in circuit.recv(data):
            if isinstance(message, core.EventAddRequest):
                subscription = message
            elif isinstance(message, core.ReadNotifyRequest):
                count = message.data_count or len(value)
                values = (value + [0] * count)[:count]
                out.append(core.ReadNotifyResponse(values, message.data_type, message.ioid,
                                                   data_count=count))
            elif isinstance(message, core.WriteNotifyRequest):
                old, value = value, [int(v) for v in message.data][:message.data_count]
                if subscription is not None:
                    out.append(core.EventAddResponse(old, subscription.data_type,
                                                     subscription.subscriptionid,
                                                     data_count=len(old)))
                out.append(core.WriteNotifyResponse(message.data_type, 1, message.ioid))
        if out:
            sock.sendall(b"".join(bytes(b) for b in circuit.send(*out)))


def test_an_array_that_grew_is_read_back_whole_when_the_first_update_comes_with_the_put():
    """The first update (one element, older than the put) makes the PV read the value
    back after the put: that read asks for the PV's own count, not the update's."""
    raw = RawServer(["w"])
    stop = threading.Event()
    server = threading.Thread(target=play_a_server_whose_first_update_lags,
                              args=(raw, stop), daemon=True)
    server.start()
    try:
        env = {**os.environ, **client_env(raw.port)}
        result = subprocess.run([sys.executable, "-c", GROWING_SCRIPT], env=env,
                                capture_output=True, text=True, timeout=60)
    finally:
        stop.set()
        raw.close()
        server.join(5)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0] == "'some text'"
