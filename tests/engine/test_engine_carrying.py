"""What a circuit carries and what connecting and losing do, with plain calls: the
server's answers are made with the core, as a server would send them."""
from __future__ import annotations

from dataclasses import dataclass, field

import hypothesis.strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import caproto_core as core
from caproto_core import CLIENT
from epics_compat.engine import CircuitChannels, state_after_loss
from epics_compat.engine.carrying import (CLOSED, CONNECTED, NEVER_CONNECTED,
                                          PREVIOUSLY_CONNECTED)

ADDRESS = ("127.0.0.1", 5064)


@dataclass(eq=False)
class Channel:
    name: str
    state: int = NEVER_CONNECTED
    core: core.Channel | None = None


@dataclass(eq=False)
class Request:
    channel: Channel
    ioid: int = 0
    failed: bool = field(default=False)


def new_circuit(priority: int = 0) -> CircuitChannels[Channel, Request]:
    return CircuitChannels(core.VirtualCircuit(CLIENT, ADDRESS, priority))


def send(circuit: CircuitChannels, messages: list[core.Message]) -> list[core.Message]:
    """What the transport would do: the core records and encodes each message."""
    circuit.core.send(*messages)
    return messages


def serve(circuit: CircuitChannels, *messages: core.Message) -> list[core.Message]:
    """The server's messages, through the core as the transport receives them."""
    return circuit.core.recv(b"".join(bytes(m) for m in messages))


def connect(circuit: CircuitChannels, hold_events: bool = False) -> list[core.Message]:
    greeting = send(circuit, circuit.greeting("host", "user", hold_events))
    serve(circuit, core.VersionResponse(13))
    return greeting


def create(circuit: CircuitChannels, channel: Channel, sid: int) -> None:
    """The server accepts a channel the circuit carries."""
    assert channel.core is not None
    serve(circuit, core.AccessRightsResponse(channel.core.cid, 3),
          core.CreateChanResponse(6, 1, channel.core.cid, sid))
    channel.state = CONNECTED


def read(circuit: CircuitChannels, channel: Channel) -> Request:
    assert channel.core is not None
    message = send(circuit, [channel.core.read(core.ChannelType.DOUBLE, 1)])[0]
    request = Request(channel, message.ioid)
    circuit.pending[message.ioid] = request
    return request


def test_channels_found_before_the_connection_are_created_after_the_greeting():
    circuit = new_circuit(priority=3)
    early = [Channel("a"), Channel("b"), Channel("closed", state=CLOSED)]
    assert all(circuit.carry(channel) == [] for channel in early)
    assert circuit.waiting == early[:2]  # a closed channel is never created
    greeting = connect(circuit)
    kinds = [type(m) for m in greeting]
    assert kinds == [core.VersionRequest, core.HostNameRequest, core.ClientNameRequest,
                     core.CreateChanRequest, core.CreateChanRequest]
    assert greeting[0].priority == 3
    assert [m.name for m in greeting[3:]] == ["a", "b"]
    assert circuit.waiting == [] and circuit.connected
    assert sorted(c.name for c in circuit.channels.values()) == ["a", "b"]
    late = Channel("c")
    [creation] = send(circuit, circuit.carry(late))
    assert isinstance(creation, core.CreateChanRequest) and creation.name == "c"
    assert circuit.channels[creation.cid] is late


def test_a_client_holding_updates_asks_a_new_circuit_to_hold_them_too():
    circuit = new_circuit()
    greeting = connect(circuit, hold_events=True)
    assert [type(m) for m in greeting][-1] is core.EventsOffRequest


def test_a_refused_channel_leaves_the_circuit_and_keeps_its_state():
    circuit = new_circuit()
    connect(circuit)
    channel = Channel("refused")
    [creation] = send(circuit, circuit.carry(channel))
    serve(circuit, core.CreateChFailResponse(creation.cid))
    assert circuit.refused(creation.cid) is channel
    assert circuit.channels == {} and circuit.refused(creation.cid) is None


def test_a_dropped_channel_fails_its_own_requests_only():
    circuit = new_circuit()
    connect(circuit)
    kept, dropped = Channel("kept"), Channel("dropped")
    for sid, channel in enumerate((kept, dropped), start=10):
        send(circuit, circuit.carry(channel))
        create(circuit, channel, sid)
    kept_read, dropped_reads = read(circuit, kept), [read(circuit, dropped) for _ in "xy"]
    assert dropped.core is not None
    serve(circuit, core.ServerDisconnResponse(dropped.core.cid))
    channel, failed = circuit.dropped(dropped.core.cid)
    assert channel is dropped and failed == dropped_reads
    assert list(circuit.pending.values()) == [kept_read]
    assert circuit.dropped(dropped.core.cid) == (None, [])


def test_a_lost_circuit_gives_back_every_request_and_channel_and_carries_nothing():
    circuit = new_circuit()
    waiting = Channel("waiting")
    circuit.carry(waiting)
    connect(circuit)
    created = Channel("created")
    send(circuit, circuit.carry(created))
    create(circuit, created, 7)
    requests = [read(circuit, created) for _ in range(3)]
    late = Channel("late")  # found on this server while the circuit was connecting
    circuit.connected = False
    circuit.carry(late)
    failed, channels = circuit.lost()
    assert failed == requests
    assert set(map(id, channels)) == {id(waiting), id(created), id(late)}
    assert (circuit.pending, circuit.channels, circuit.waiting) == ({}, {}, [])
    assert not circuit.connected
    assert circuit.core.state is core.CircuitState.DISCONNECTED
    assert circuit.lost() == ([], [])


def test_the_state_after_a_loss_is_libcas():
    assert state_after_loss(CONNECTED) == PREVIOUSLY_CONNECTED
    assert state_after_loss(NEVER_CONNECTED) == NEVER_CONNECTED
    assert state_after_loss(PREVIOUSLY_CONNECTED) == PREVIOUSLY_CONNECTED
    assert state_after_loss(CLOSED) == CLOSED


class CircuitLife(RuleBasedStateMachine):
    """Any order of finds, connection, creations, reads, answers, refusals, drops and a
    loss: every channel is carried once or handed back once; every request is answered
    or failed once, never both; a lost circuit's channels go on a new one."""

    def __init__(self):
        super().__init__()
        self.circuit = new_circuit()
        self.found: list[Channel] = []
        self.handed_back: list[Channel] = []
        self.requests: list[Request] = []
        self.answered: list[Request] = []
        self.failed: list[Request] = []
        self.sids = iter(range(1, 10_000))
        self.ended = False

    def _carried(self) -> list[Channel]:
        return list(self.circuit.channels.values()) + self.circuit.waiting

    @precondition(lambda self: not self.ended)
    @rule()
    def find(self):
        channel = Channel(f"pv{len(self.found)}")
        self.found.append(channel)
        send(self.circuit, self.circuit.carry(channel))

    @precondition(lambda self: not self.ended and not self.circuit.connected)
    @rule()
    def connect(self):
        connect(self.circuit)

    def _uncreated(self) -> list[Channel]:
        return [c for c in self.circuit.channels.values() if c.state != CONNECTED]

    def _connected(self) -> list[Channel]:
        return [c for c in self.circuit.channels.values() if c.state == CONNECTED]

    @precondition(lambda self: not self.ended and self._uncreated())
    @rule(data=st.data())
    def server_creates(self, data):
        create(self.circuit, data.draw(st.sampled_from(self._uncreated())), next(self.sids))

    @precondition(lambda self: not self.ended and self._uncreated())
    @rule(data=st.data())
    def server_refuses(self, data):
        channel = data.draw(st.sampled_from(self._uncreated()))
        assert channel.core is not None
        serve(self.circuit, core.CreateChFailResponse(channel.core.cid))
        assert self.circuit.refused(channel.core.cid) is channel
        self.handed_back.append(channel)

    @precondition(lambda self: not self.ended and self._connected())
    @rule(data=st.data())
    def client_reads(self, data):
        self.requests.append(read(self.circuit, data.draw(st.sampled_from(self._connected()))))

    @precondition(lambda self: not self.ended and self.circuit.pending)
    @rule(data=st.data())
    def server_answers(self, data):
        ioid = data.draw(st.sampled_from(sorted(self.circuit.pending)))
        request = self.circuit.pending[ioid]
        assert request.channel.core is not None
        serve(self.circuit, core.ReadNotifyResponse([1.0], core.ChannelType.DOUBLE, ioid,
                                                    data_count=1))
        self.answered.append(self.circuit.pending.pop(ioid))

    @precondition(lambda self: not self.ended and self._connected())
    @rule(data=st.data())
    def server_drops(self, data):
        channel = data.draw(st.sampled_from(self._connected()))
        assert channel.core is not None
        serve(self.circuit, core.ServerDisconnResponse(channel.core.cid))
        dropped, failed = self.circuit.dropped(channel.core.cid)
        assert dropped is channel
        assert all(request.channel is channel for request in failed)
        self.failed.extend(failed)
        self.handed_back.append(channel)

    @precondition(lambda self: not self.ended)
    @rule()
    def circuit_lost(self):
        failed, channels = self.circuit.lost()
        self.failed.extend(failed)
        self.handed_back.extend(channels)
        self.ended = True

    @precondition(lambda self: self.ended)
    @rule()
    def search_finds_them_again(self):
        """The transport makes a new circuit and puts the channels back on it."""
        self.circuit = new_circuit()
        channels, self.handed_back = self.handed_back, []
        for channel in channels:
            channel.state = state_after_loss(channel.state)
            channel.core = None
            send(self.circuit, self.circuit.carry(channel))
        self.ended = False

    @invariant()
    def every_channel_is_carried_or_handed_back_once(self):
        places = [id(c) for c in self._carried() + self.handed_back]
        assert sorted(places) == sorted(id(c) for c in self.found)

    @invariant()
    def every_request_ends_once(self):
        ended = [id(r) for r in self.answered + self.failed]
        assert len(ended) == len(set(ended))
        waiting = [id(r) for r in self.circuit.pending.values()]
        assert sorted(ended + waiting) == sorted(id(r) for r in self.requests)

    @invariant()
    def a_lost_circuit_carries_nothing(self):
        if self.ended:
            assert not self._carried() and not self.circuit.pending


TestCircuitLife = CircuitLife.TestCase
