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

import epics_compat._context as engine
from epics_compat._context import CS_CONN, CS_PREV_CONN, ChannelAccessError
from epics_compat.server import PV
from reliability import DBE_VALUE, DOUBLE, Lab, Recorder, connect, io_alive, read, \
    wait_for, write

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def lab():
    lab = Lab()
    yield lab
    lab.close()


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
    monkeypatch.setattr(engine, "SEND_TIMEOUT", 1.5, raising=False)
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
