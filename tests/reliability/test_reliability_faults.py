"""Faults of the network and the server, as the client context lives through them.

Each test runs pure-Python servers (``epics_compat.server``) with scripted faults and a
client ``Context`` aimed at them alone; each is bounded by a timeout, and each ends by
checking that the context still works.
"""
from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest
from ioc import close_pipes
from reliability import (
    DBE_VALUE,
    DOUBLE,
    Lab,
    Recorder,
    connect,
    io_alive,
    read,
    wait_for,
    write,
)

import epics_compat._tcp_circuit as circuit_module
import epics_compat.engine.circuits as circuit_rules
from epics_compat._context import CS_CONN, CS_PREV_CONN, ChannelAccessError
from epics_compat.server import PV

pytestmark = pytest.mark.timeout(60)


def still_works(lab: Lab, context) -> None:
    """A fresh server, channel and read through this context work."""
    assert io_alive(context)
    spare = lab.server([PV("spare", "double", 42.0)])
    context.config.addr_list.append(("127.0.0.1", spare.port))
    assert read(context, connect(context, "spare"))[0] == 42.0


# --- a server that stops reading, and the I/O thread ----------------------------------------

def test_large_put_to_a_server_that_stopped_reading_stalls_nothing_else(lab, monkeypatch):
    """A caller's large put to a hung server blocks in the write; meanwhile the I/O thread
    has to write on the same circuit (a channel clear, an echo). It used to wait for the
    caller's send lock while holding the circuit lock that the caller wanted next when
    its write timed out: every circuit of the context stopped for good. Now the I/O thread
    never waits for a socket, other circuits go on, and the put fails after SEND_TIMEOUT."""
    monkeypatch.setattr(circuit_module, "SEND_TIMEOUT", 1.5)
    hung = lab.server([PV("big", "double", np.zeros(2_000_000)), PV("a", "double", 1.0),
                       PV("b", "double", 2.0)])
    healthy = lab.server([PV("c", "double", 3.0)])
    context = lab.context(hung, healthy)
    big, a, b, c = (connect(context, name) for name in ("big", "a", "b", "c"))
    hung.faults.hang(True)
    outcome = []

    def large_put():
        try:
            context.write(big, np.ones(2_000_000), DOUBLE, None, notify=True)
            outcome.append("returned")
        except ChannelAccessError as exc:
            outcome.append(str(exc))
    putter = threading.Thread(target=large_put, daemon=True)
    putter.start()
    assert wait_for(lambda: big.circuit.send_lock.locked(), 5)
    context.clear_channel(a)  # the I/O thread writes a CLEAR_CHANNEL on the hung circuit
    time.sleep(0.2)
    started = time.monotonic()
    for _ in range(20):  # the other circuit answers at once, all along
        assert read(context, c, timeout=1.0)[0] == 3.0
    assert time.monotonic() - started < 2.0
    putter.join(20)
    assert not putter.is_alive(), "the put never returned"
    assert outcome and "took no data" in outcome[0], outcome
    assert wait_for(lambda: b.state == CS_PREV_CONN, 5)  # the hung circuit was dropped
    hung.faults.hang(False)
    assert b.connected.wait(10)
    assert read(context, b)[0] == 2.0
    still_works(lab, context)


# --- the server goes away and comes back ------------------------------------------------------

def watch(context, channel):
    """(connection events, monitor recorder) of a channel, recorded from now on."""
    events = []
    channel.connection_callbacks.append(lambda c, connected: events.append(connected))
    recorder = Recorder()
    context.subscribe(channel, "native", 0, DBE_VALUE, recorder)
    assert recorder.wait_for(lambda values: values, 5), "no first monitor update"
    return events, recorder


def outage_checks(context, channel, events):
    """During an outage: the channel says so, the callback said so, requests fail at once."""
    assert wait_for(lambda: channel.state == CS_PREV_CONN, 5), "the loss went unnoticed"
    assert wait_for(lambda: events == [False], 2), events
    started = time.monotonic()
    with pytest.raises(ChannelAccessError, match="not connected"):
        context.read(channel, DOUBLE, 0)
    with pytest.raises(ChannelAccessError, match="not connected"):
        context.write(channel, 1.0, DOUBLE, None, notify=True)
    assert time.monotonic() - started < 0.5


def test_server_restarted_on_the_same_port(lab):
    server = lab.server([PV("x", "double", 1.0)])
    context = lab.context(server)
    channel = connect(context, "x")
    events, recorder = watch(context, channel)
    server.faults.restart(downtime=1.0, wait=False)
    outage_checks(context, channel, events)
    assert channel.connected.wait(10), "no reconnection after the restart"
    assert wait_for(lambda: events == [False, True], 2), events
    server["x"].write(7.5)  # the subscription was restored on the new circuit
    assert recorder.wait_for(lambda values: values[-1:] == [7.5], 5), recorder.values
    write(context, channel, 8.5)
    assert read(context, channel)[0] == 8.5
    assert recorder.wait_for(lambda values: values[-1:] == [8.5], 5), recorder.values
    assert len(context.circuits) == 1


def test_server_replaced_by_one_on_another_port(lab):
    """The IOC comes back on another port (in the address list): the client finds it."""
    first = lab.server([PV("x", "double", 1.0), PV("y", "long", 5)])
    second_port = lab.server([]).port  # reserve a port with a server of nothing
    lab.servers[-1].stop()
    context = lab.context(first, second_port)
    x, y = connect(context, "x"), connect(context, "y")
    events, recorder = watch(context, x)
    first.stop()
    outage_checks(context, x, events)
    second = lab.server([PV("x", "double", 2.0), PV("y", "long", 6)], port=second_port)
    assert x.connected.wait(10) and y.connected.wait(10)
    assert x.host == y.host == f"127.0.0.1:{second_port}"
    assert wait_for(lambda: events == [False, True], 2), events
    assert recorder.wait_for(lambda values: values[-1:] == [2.0], 5), recorder.values
    second["x"].write(3.0)
    assert recorder.wait_for(lambda values: values[-1:] == [3.0], 5), recorder.values
    assert read(context, y, core_type("LONG"))[0] == 6


def core_type(name):
    import caproto_core as core
    return getattr(core.ChannelType, name)


# --- circuits dropped in the middle of something ------------------------------------------------

def test_circuit_dropped_mid_get(lab):
    server = lab.server([PV("x", "double", 1.0)])
    context = lab.context(server)
    channel = connect(context, "x")
    server.faults.delay(2.0)
    pending = context.read(channel, DOUBLE, 0)
    time.sleep(0.1)
    server.faults.drop_circuits()
    started = time.monotonic()
    assert pending.wait(2), "the get in flight did not end with its circuit"
    assert time.monotonic() - started < 1.0
    assert pending.result is None and "lost" in pending.error
    server.faults.delay(0)
    assert channel.connected.wait(10)
    assert read(context, channel)[0] == 1.0


def test_circuit_dropped_mid_put_with_completion(lab):
    server = lab.server([PV("slow", "double", 1.0, put_delay=1.0)])
    context = lab.context(server)
    channel = connect(context, "slow")
    completions = []
    pending = context.write(channel, 2.0, DOUBLE, None, notify=True,
                            callback=lambda p: completions.append(p.error))
    time.sleep(0.2)
    server.faults.drop_circuits()
    assert pending.wait(2), "the put in flight did not end with its circuit"
    assert "lost" in pending.error
    assert wait_for(lambda: completions, 2) and len(completions) == 1
    assert "lost" in completions[0]
    assert channel.connected.wait(10)
    time.sleep(1.2)  # the server's late completion has nowhere to go: nothing breaks
    assert completions == [completions[0]]
    assert read(context, channel)[0] == 2.0  # the server did take the value
    write(context, channel, 4.0, timeout=10)


def test_circuit_dropped_mid_large_array(lab):
    """Half of a 16 MB reply, a pause, then the end of the circuit: the read fails, the
    I/O thread served the other circuit meanwhile, the half-filled buffer is let go."""
    from reliability import RawServer

    import caproto_core as core
    other = lab.server([PV("c", "double", 3.0)])
    raw = RawServer(["big"])
    try:
        context = lab.context(raw.port, other)
        c = connect(context, "c")
        big = context.create_channel("big")
        sock = raw.accept()
        circuit, _ = raw.serve_channel(sock, DOUBLE, 2_000_000)
        assert big.connected.wait(5)
        pending = context.read(big, DOUBLE, 0)
        request = raw.receive_messages(
            sock, circuit, lambda ms: any(isinstance(m, core.ReadNotifyRequest) for m in ms))
        ioid = next(m for m in request if isinstance(m, core.ReadNotifyRequest)).ioid
        reply = b"".join(bytes(b) for b in circuit.send(core.ReadNotifyResponse(
            np.arange(2_000_000, dtype=">f8"), DOUBLE, ioid)))
        sock.sendall(reply[:len(reply) // 2])
        assert wait_for(lambda: context.circuits and any(
            ci.large is not None for ci in context.circuits.values()), 5)
        started = time.monotonic()
        for _ in range(10):
            assert read(context, c, timeout=1.0)[0] == 3.0
        assert time.monotonic() - started < 1.0
        assert not pending.done.is_set()
        sock.close()
        assert pending.wait(5) and "lost" in pending.error
        assert wait_for(lambda: big.state == CS_PREV_CONN, 5)
        assert all(ci.large is None for ci in context.circuits.values())
        # It comes back and this time the whole array arrives.
        sock = raw.accept()
        circuit, _ = raw.serve_channel(sock, DOUBLE, 2_000_000)
        assert big.connected.wait(5)
        pending = context.read(big, DOUBLE, 0)
        request = raw.receive_messages(
            sock, circuit, lambda ms: any(isinstance(m, core.ReadNotifyRequest) for m in ms))
        ioid = next(m for m in request if isinstance(m, core.ReadNotifyRequest)).ioid
        sock.sendall(b"".join(bytes(b) for b in circuit.send(core.ReadNotifyResponse(
            np.arange(2_000_000, dtype=">f8"), DOUBLE, ioid))))
        assert pending.wait(10) and pending.error is None
        np.testing.assert_array_equal(pending.result.data, np.arange(2_000_000.0))
    finally:
        raw.close()


# --- a server that stops answering, or answers slowly -------------------------------------

def test_server_that_stops_answering_is_detected_by_the_echo(lab, monkeypatch):
    monkeypatch.setattr(circuit_rules, "ECHO_TIMEOUT", 1.0)
    server = lab.server([PV("x", "double", 1.0)])
    context = lab.context(server, connection_timeout=1.0)
    channel = connect(context, "x")
    events = []
    channel.connection_callbacks.append(lambda c, connected: events.append(connected))
    server.faults.hang(True)
    pending = context.read(channel, DOUBLE, 0)
    started = time.monotonic()
    # Silence for connection_timeout, an echo, no reply for ECHO_TIMEOUT (checked each s).
    assert wait_for(lambda: channel.state == CS_PREV_CONN, 6), "a hung server went unnoticed"
    assert 1.5 < time.monotonic() - started < 5.0
    assert pending.wait(1) and "unresponsive" in pending.error
    assert wait_for(lambda: events == [False], 2), events
    server.faults.hang(False)
    assert channel.connected.wait(10)
    assert read(context, channel)[0] == 1.0


def test_slow_server_is_slow_but_correct(lab, monkeypatch):
    """Every answer 1.5 s late, with echoes due after 0.5 s of silence: the circuit is
    kept (the echo is answered, late), replies come in order, a get given less time than
    the delay times out and the late reply is dropped without harm."""
    monkeypatch.setattr(circuit_rules, "ECHO_TIMEOUT", 3.0)
    server = lab.server([PV("x", "double", 1.0)])
    context = lab.context(server, connection_timeout=0.5)
    channel = connect(context, "x")
    server.faults.delay(1.5)
    impatient = context.read(channel, DOUBLE, 0)
    assert not impatient.wait(0.3)
    pendings = [context.write(channel, float(i), DOUBLE, None, notify=True)
                for i in range(5)]
    pendings.append(context.read(channel, DOUBLE, 0))
    assert all(p.wait(5) for p in pendings)
    assert all(p.error is None for p in pendings)
    assert pendings[-1].result.data[0] == 4.0  # answered in the order asked
    assert impatient.wait(0) and impatient.result.data[0] == 1.0
    time.sleep(2.5)  # echoes go out and come back late
    assert channel.state == CS_CONN
    server.faults.delay(0)
    assert read(context, channel)[0] == 4.0


# --- beacons, refusals, access -----------------------------------------------------------------

@pytest.mark.parametrize("kind", ["restart", "jump"])
def test_beacon_anomaly_makes_a_searching_channel_find_the_server_at_once(lab, kind):
    server = lab.server([PV("x", "double", 1.0)], beacon_period=0.2)
    context = lab.context(server)
    connect(context, "x")
    assert wait_for(lambda: ("127.0.0.1", server.port) in context.search_plan.beacons, 5), \
        "no beacons through the repeater"
    late = context.create_channel("late")
    assert wait_for(lambda: late.search_attempts >= 2, 5)

    def searched_long_ago():  # as if it had been searching for an hour: next try in 60 s
        late.search_attempts = 30
        late.next_search = time.monotonic() + 60
    context.call_soon(searched_long_ago)
    time.sleep(0.3)
    server.add(PV("late", "double", 2.0))
    assert not late.connected.wait(0.5)
    server.faults.beacon_anomaly(kind)
    assert late.connected.wait(2), "the beacon anomaly did not restart the search"
    assert read(context, late)[0] == 2.0


def test_refused_channel_is_searched_again_and_others_are_unaffected(lab, caplog):
    server = lab.server([PV("x", "double", 1.0), PV("y", "double", 2.0)])
    server.faults.refuse_channel("x")
    context = lab.context(server)
    with caplog.at_level(logging.WARNING, logger="epics_compat.context"):
        x = context.create_channel("x")
        y = connect(context, "y")
        assert not x.connected.wait(1.0)
    assert any("refused channel 'x'" in r.getMessage() for r in caplog.records)
    assert read(context, y)[0] == 2.0
    with pytest.raises(ChannelAccessError, match="not connected"):
        context.read(x, DOUBLE, 0)
    server.faults.refuse_channel("x", False)
    assert x.connected.wait(5), "a channel refused once is never searched again"
    assert read(context, x)[0] == 1.0


def test_write_access_denied_sends_no_put(lab):
    server = lab.server([PV("x", "double", 1.0)])
    context = lab.context(server)
    channel = connect(context, "x")
    access = []
    channel.access_callbacks.append(lambda c, r, w: access.append((r, w)))
    server.faults.deny_write("x")
    assert wait_for(lambda: access[-1:] == [(True, False)], 5), access
    sent = []
    circuit = channel.circuit
    original = circuit.core.send
    circuit.core.send = lambda *messages: (sent.extend(messages), original(*messages))[1]
    for notify in (True, False):
        with pytest.raises(ChannelAccessError, match="no write access to 'x'"):
            context.write(channel, 5.0, DOUBLE, None, notify=notify)
    assert not sent, sent
    assert server["x"].value == 1.0
    assert read(context, channel)[0] == 1.0  # reading is still allowed
    server.faults.deny_write("x", False)
    assert wait_for(lambda: access[-1:] == [(True, True)], 5), access
    write(context, channel, 5.0)
    assert server["x"].value == 5.0


# --- malformed and truncated messages -------------------------------------------------------------

@pytest.mark.parametrize("kind", ["bad_command", "bad_type", "short_payload", "truncated"])
def test_malformed_message_closes_the_circuit_and_the_client_goes_on(lab, caplog, kind):
    server = lab.server([PV("x", "double", 1.0)])
    context = lab.context(server)
    channel = connect(context, "x")
    events, recorder = watch(context, channel)
    with caplog.at_level(logging.INFO, logger="epics_compat.context"):
        assert server.faults.send_malformed(kind) == 1
        assert wait_for(lambda: events[:1] == [False], 5), "the circuit was kept"
        assert channel.connected.wait(10), "no reconnection"
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and f"127.0.0.1:{server.port}" in errors[0], \
        [r.getMessage() for r in caplog.records]
    assert wait_for(lambda: events == [False, True], 2), events
    server["x"].write(9.0)
    assert recorder.wait_for(lambda values: values[-1:] == [9.0], 5), recorder.values
    assert read(context, channel)[0] == 9.0
    assert io_alive(context)


# --- the same outage through the pyepics API ----------------------------------------------------

OUTAGE = r"""
import json, sys, time
import epics_compat as epics

def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()

def step(**result):
    print(json.dumps(result), flush=True)
    return sys.stdin.readline().strip()

conns, values = [], []
pv = epics.PV("x", callback=lambda value=None, **kw: values.append(value),
              connection_callback=lambda conn=None, **kw: conns.append(conn))
step(connected=bool(pv.wait_for_connection(5) and wait_for(lambda: values, 5)),
     value=pv.get())
# The server is gone now.
lost = wait_for(lambda: conns[-1:] == [False], 5)
started = time.monotonic()
during = pv.get(timeout=1.0)
get_time = time.monotonic() - started
started = time.monotonic()
caget = epics.caget("x", timeout=0.5, connection_timeout=0.5)
caget_time = time.monotonic() - started
step(lost=lost, connected=pv.connected, during=during, get_time=get_time, caget=caget,
     caget_time=caget_time)
# Another server serves x on another port of the address list now.
back = bool(wait_for(lambda: conns[-1:] == [True], 10)
            and wait_for(lambda: values[-1] == 2.0, 5))
step(back=back, value=pv.get(timeout=5), host=pv.host)
# ...and has written 3.0.
step(updated=wait_for(lambda: values[-1] == 3.0, 5), conns=conns,
     caget=epics.caget("x", timeout=5, use_monitor=False),
     put=pv.put(4.0, wait=True, timeout=5))
"""


def test_server_moves_to_another_port_as_pv_objects_see_it(lab):
    """Through the pyepics API, in a process of its own: a PV whose server dies sees
    conn=False; get() then returns None after its timeout and caget() None after its
    connection timeout; when a server on another port of EPICS_CA_ADDR_LIST serves the
    PV, conn=True, the monitor resumes without being made again, put works."""
    import json
    import os
    import subprocess
    import sys
    first = lab.server([PV("x", "double", 1.0)])
    second_port = lab.server([]).port
    lab.servers[-1].stop()
    env = {**os.environ, **first.client_env,
           "EPICS_CA_ADDR_LIST": f"127.0.0.1:{first.port} 127.0.0.1:{second_port}",
           "EPICS_CA_REPEATER_PORT": str(lab.repeater.port)}
    proc = subprocess.Popen([sys.executable, "-c", OUTAGE], env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)

    def step(answer="go"):
        line = proc.stdout.readline()
        while line and not line.startswith("{"):  # caget prints 'cannot connect to x'
            line = proc.stdout.readline()
        assert line, proc.stderr.read()
        if answer is not None:
            proc.stdin.write(answer + "\n")
            proc.stdin.flush()
        return json.loads(line)
    try:
        assert step(None) == {"connected": True, "value": 1.0}
        first.stop()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        outage = step(None)
        assert outage["lost"] and not outage["connected"], outage
        assert outage["during"] is None and 0.9 < outage["get_time"] < 1.5, outage
        assert outage["caget"] is None and outage["caget_time"] < 1.5, outage
        second = lab.server([PV("x", "double", 2.0)], port=second_port)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        back = step(None)
        assert back == {"back": True, "value": 2.0, "host": f"127.0.0.1:{second_port}"}
        second["x"].write(3.0)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        final = step(None)
        assert final == {"updated": True, "conns": [True, False, True], "caget": 3.0,
                         "put": 1}, final
        assert second["x"].value == 4.0
        proc.stdin.close()
        assert proc.wait(10) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        close_pipes(proc)
