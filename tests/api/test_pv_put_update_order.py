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


def answer_until_stopped(sock, circuit, stop: threading.Event, answer) -> None:
    """Receive the client's messages and send what ``answer(message)`` returns for each,
    until the client goes or ``stop`` is set."""
    while not stop.is_set():
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        if not data:
            return
        out = [reply for message in circuit.recv(data) for reply in answer(message)]
        if out:
            sock.sendall(b"".join(bytes(b) for b in circuit.send(*out)))


def run_client(script: str, names: list[str], play) -> subprocess.CompletedProcess:
    """Run ``script`` in a fresh process against a raw server serving ``names`` that
    ``play(raw, stop)`` plays on a thread of its own."""
    raw = RawServer(names)
    stop = threading.Event()
    server = threading.Thread(target=play, args=(raw, stop), daemon=True)
    server.start()
    try:
        env = {**os.environ, **client_env(raw.port)}
        return subprocess.run([sys.executable, "-c", script], env=env,
                              capture_output=True, text=True, timeout=60)
    finally:
        stop.set()
        raw.close()
        server.join(5)


def play_a_server_whose_update_lags(raw: RawServer, stop: threading.Event) -> None:
    """One DOUBLE channel "f" at 1.0. A WRITE_NOTIFY is answered with the update of
    the value before it (as if late), then the completion; the new value's own update
    never comes, and reads answer the current value."""
    sock = raw.accept(timeout=10)
    circuit, _ = raw.serve_channel(sock)
    state = {"value": 1.0, "subscription": None}

    def answer(message):
        value = state["value"]
        if isinstance(message, core.EventAddRequest):
            state["subscription"] = message
            return [core.EventAddResponse([value], message.data_type,
                                          message.subscriptionid)]
        if isinstance(message, core.ReadNotifyRequest):
            return [core.ReadNotifyResponse([value], message.data_type, message.ioid,
                                            data_count=1)]
        if isinstance(message, core.WriteNotifyRequest):
            state["value"] = float(message.data[0])
            return [core.EventAddResponse([value], core.ChannelType.TIME_DOUBLE,
                                          state["subscription"].subscriptionid),
                    core.WriteNotifyResponse(message.data_type, 1, message.ioid)]
        return []

    answer_until_stopped(sock, circuit, stop, answer)


def test_get_after_put_wait_gives_the_put_value_when_an_older_update_comes_with_the_completion():
    result = run_client(SCRIPT, ["f"], play_a_server_whose_update_lags)
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
    state = {"value": [ord("s")], "subscription": None}

    def answer(message):
        value, subscription = state["value"], state["subscription"]
        if isinstance(message, core.EventAddRequest):
            state["subscription"] = message
            return []
        if isinstance(message, core.ReadNotifyRequest):
            count = message.data_count or len(value)
            values = (value + [0] * count)[:count]
            return [core.ReadNotifyResponse(values, message.data_type, message.ioid,
                                            data_count=count)]
        if isinstance(message, core.WriteNotifyRequest):
            state["value"] = [int(v) for v in message.data][:message.data_count]
            out = []
            if subscription is not None:
                out.append(core.EventAddResponse(value, subscription.data_type,
                                                 subscription.subscriptionid,
                                                 data_count=len(value)))
            out.append(core.WriteNotifyResponse(message.data_type, 1, message.ioid))
            return out
        return []

    answer_until_stopped(sock, circuit, stop, answer)


def test_an_array_that_grew_is_read_back_whole_when_the_first_update_comes_with_the_put():
    """The first update (one element, older than the put) makes the PV read the value
    back after the put: that read asks for the PV's own count, not the update's."""
    result = run_client(GROWING_SCRIPT, ["w"], play_a_server_whose_first_update_lags)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0] == "'some text'"
