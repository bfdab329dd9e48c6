"""The threaded client's threading model under stress: many threads subscribe,
unsubscribe and clear channels while the server drops and restores circuits.

Only the I/O thread connects channels and sends what a connection brings; callers change
a channel's subscriptions and closed state under the context's lock, and send a
subscription of their own only under the circuit's lock, where the I/O thread cannot be
sending it too. Afterwards every subscription still open gets each update exactly once,
and no channel cleared is connected again.
"""
from __future__ import annotations

import random
import threading
import time

import pytest

from epics_compat._context import CS_CLOSED
from epics_compat.server import PV
from reliability import DBE_VALUE, DOUBLE, Recorder, connect, io_alive, wait_for, \
    write

pytestmark = pytest.mark.timeout(120)


def test_subscribe_unsubscribe_clear_from_many_threads_while_circuits_drop(lab):
    names = [f"h{i}" for i in range(8)]
    server = lab.server([PV(name, "double", 0.0) for name in names])
    context = lab.context(server)
    errors, kept = [], []
    stop = threading.Event()

    def churn(seed: int) -> None:
        rng = random.Random(seed)
        try:
            while not stop.is_set():
                channel = context.create_channel(rng.choice(names))
                subscriptions = [context.subscribe(channel, DOUBLE, 1, DBE_VALUE, Recorder())
                                 for _ in range(rng.randint(1, 3))]
                time.sleep(rng.random() * 0.01)
                for subscription in subscriptions[1:]:
                    context.unsubscribe(subscription)
                    context.unsubscribe(subscription)  # twice: the second does nothing
                if rng.random() < 0.7:
                    context.clear_channel(channel)
                    assert channel.state == CS_CLOSED
                elif len(kept) < 20:
                    kept.append((channel, subscriptions[0]))
                else:
                    context.clear_channel(channel)
        except Exception as exc:  # reported by the test, with its thread
            errors.append((seed, repr(exc)))

    threads = [threading.Thread(target=churn, args=(seed,), daemon=True)
               for seed in range(6)]
    for thread in threads:
        thread.start()
    for _ in range(8):
        time.sleep(0.25)
        server.faults.drop_circuits()
    stop.set()
    for thread in threads:
        thread.join(20)
    assert not errors, errors
    assert io_alive(context)
    assert kept, "no subscription was kept to check"
    for channel, _ in kept:
        assert channel.connected.wait(10), channel
    time.sleep(0.5)  # the first value of every kept subscription is in

    writer = connect(context, names[0])
    before = {id(subscription): len(subscription.callback.values)
              for _, subscription in kept}
    for name in names:
        write(context, writer if name == names[0] else connect(context, name), 42.0)
    assert wait_for(lambda: all(len(subscription.callback.values) > before[id(subscription)]
                                for _, subscription in kept), 5)
    time.sleep(0.3)
    for _, subscription in kept:
        new = subscription.callback.values[before[id(subscription)]:]
        assert new == [42.0], (subscription, new)  # once, not once per send
    cleared = [c for c in context.channels.values() if c.state == CS_CLOSED]
    assert not cleared  # a cleared channel leaves the context's table for good
