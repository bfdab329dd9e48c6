"""What the event loop watches: both pollers (epoll on Linux, selectors elsewhere) keep a
socket registered with nothing wanted, report only what is wanted, and forget sockets
closed before they were removed."""
import select
import selectors
import socket

import pytest

from epics_compat._poller import EpollPoller, SelectorPoller

READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
KINDS = [SelectorPoller] + ([EpollPoller] if hasattr(select, "epoll") else [])


@pytest.fixture(params=KINDS, ids=lambda kind: kind.__name__)
def poller(request):
    poller = request.param()
    yield poller
    poller.close()


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def handler(mask):
    pass


def ready(poller):
    return [(entry.sock, events) for entry, events in poller.ready(0)]


def test_reports_what_is_wanted_and_nothing_while_quiet(poller, pair):
    a, b = pair
    poller.add(a, READ, handler)
    assert ready(poller) == []
    b.send(b"x")
    assert ready(poller) == [(a, READ)]
    poller.change(a, 0, handler)  # quiet: still registered
    assert poller.events_of(a) == 0
    assert ready(poller) == []
    poller.change(a, READ | WRITE, handler)
    assert ready(poller) == [(a, READ | WRITE)]
    poller.change(a, WRITE, handler)
    assert ready(poller) == [(a, WRITE)]
    poller.remove(a)
    assert poller.events_of(a) is None
    assert ready(poller) == []


def test_a_quiet_socket_whose_peer_hangs_up_is_left_to_its_reader(poller, pair):
    a, b = pair
    poller.add(a, 0, handler)
    b.close()
    assert ready(poller) == []
    poller.change(a, READ, handler)
    assert ready(poller) == [(a, READ)]


def test_the_handler_and_entry_are_the_ones_registered_now(poller, pair):
    a, b = pair
    poller.add(a, READ, handler)
    b.send(b"x")
    (entry, _), = poller.ready(0)
    other = [].append
    poller.change(a, READ, other)
    assert poller.current(entry) is entry and entry.handler is other
    poller.remove(a)
    assert poller.current(entry) is None


def test_registering_twice_fails_and_removing_twice_does_not(poller, pair):
    a, _ = pair
    poller.add(a, READ, handler)
    with pytest.raises(KeyError):
        poller.add(a, WRITE, handler)
    poller.remove(a)
    poller.remove(a)
    with pytest.raises(KeyError):
        poller.change(a, READ, handler)


def test_a_socket_closed_before_removal_is_forgotten_and_its_number_reused(poller):
    a, b = socket.socketpair()
    poller.add(a, READ, handler)
    fd = a.fileno()
    a.close()  # its number is free now; the entry is found by the object
    poller.remove(a)
    assert poller.events_of(a) is None
    c, d = socket.socketpair()
    try:
        assert fd in (c.fileno(), d.fileno())
        reused = c if c.fileno() == fd else d
        peer = d if reused is c else c
        poller.add(reused, READ, handler)
        peer.send(b"x")
        assert ready(poller) == [(reused, READ)]
    finally:
        for sock in (b, c, d):
            sock.close()
