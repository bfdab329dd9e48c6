"""The state machines: legal sequences for both roles, illegal ones refused clearly.

A client VirtualCircuit and a server VirtualCircuit are wired back to back (what one
sends, the other receives), so every legal sequence is checked from both sides at once.
Illegal messages must raise LocalProtocolError (our side) or RemoteProtocolError (the
peer) with a text naming the message class, the channel and the state.
"""
from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (Bundle, RuleBasedStateMachine, consumes, initialize,
                                 invariant, rule)

import caproto_core as cc
from caproto_core import _state
from caproto_core._circuit import _BY_CID, _BY_IOID, _BY_SID, _BY_SUBSCRIPTION

S = cc.ChannelState
C = cc.CircuitState
ChannelType = cc.ChannelType

#: A client channel state and the server state that goes with it.
MIRROR = {S.SEND_CREATE_CHAN_REQUEST: S.AWAIT_CREATE_CHAN_REQUEST,
          S.AWAIT_CREATE_CHAN_RESPONSE: S.SEND_CREATE_CHAN_RESPONSE,
          **{state: state for state in (S.CONNECTED, S.CLOSING, S.CLOSED, S.FAILED,
                                        S.DISCONNECTED)}}


class Pair:
    """A client circuit and a server circuit connected back to back."""

    def __init__(self, connect: bool = True):
        self.client = cc.VirtualCircuit(cc.CLIENT, ("127.0.0.1", 5064))
        self.server = cc.VirtualCircuit(cc.SERVER, ("127.0.0.1", 40000))
        self.sids = iter(range(100, 10**6))
        if connect:
            self.to_server(cc.VersionRequest(priority=0))
            self.to_client(cc.VersionResponse(priority=0))

    def to_server(self, *messages):
        """The client sends ``messages``; the server receives the same."""
        wire = b"".join(bytes(b) for b in self.client.send(*messages))
        received = self.server.recv(wire)
        assert received == list(messages)
        return received

    def to_client(self, *messages):
        wire = b"".join(bytes(b) for b in self.server.send(*messages))
        received = self.client.recv(wire)
        assert received == list(messages)
        return received

    def connect(self, name: str, data_type=ChannelType.DOUBLE, data_count: int = 1):
        """(client channel, server channel), connected."""
        channel = self.client.new_channel(name)
        self.to_server(channel.create())
        peer = self.server.channels[channel.cid]
        self.to_client(*self.server.accept_channel(peer, next(self.sids), data_type,
                                                   data_count))
        assert channel.state is peer.state is S.CONNECTED
        return channel, peer


# --- legal sequences -----------------------------------------------------------------------------

def test_a_channel_from_create_to_clear():
    pair = Pair()
    assert pair.client.state is pair.server.state is C.CONNECTED
    channel = pair.client.new_channel("cap:ai")
    assert channel.state is S.SEND_CREATE_CHAN_REQUEST
    pair.to_server(channel.create())
    peer = pair.server.channels[channel.cid]
    assert (peer.name, channel.state, peer.state) == (
        "cap:ai", S.AWAIT_CREATE_CHAN_RESPONSE, S.SEND_CREATE_CHAN_RESPONSE)
    rights, created = pair.server.accept_channel(peer, 42, ChannelType.DOUBLE, 1,
                                                 cc.AccessRights.READ)
    pair.to_client(rights)
    assert channel.access_rights == cc.AccessRights.READ
    assert channel.state is S.AWAIT_CREATE_CHAN_RESPONSE
    pair.to_client(created)
    assert (channel.sid, channel.native_data_type, channel.native_data_count) == (
        42, ChannelType.DOUBLE, 1)
    assert channel.state is peer.state is S.CONNECTED

    # read
    read = channel.read("time")
    assert read.data_type == ChannelType.TIME_DOUBLE and read.sid == 42
    pair.to_server(read)
    assert pair.client.pending_requests() == {read.ioid: read}
    assert pair.server.pending_requests(peer) == {read.ioid: read}
    pair.to_client(cc.ReadNotifyResponse(3.25, read.data_type, read.ioid,
                                         metadata={"seconds": 1}))
    assert pair.client.pending_requests() == pair.server.pending_requests() == {}

    # writes, with and without notification
    pair.to_server(channel.write(1.5, notify=False))
    assert pair.client.pending_requests() == {}
    write = channel.write([2.5])
    pair.to_server(write)
    assert list(pair.client.pending_requests()) == [write.ioid]
    pair.to_client(cc.WriteNotifyResponse(write.data_type, write.data_count, write.ioid))
    assert pair.client.pending_requests() == {}

    # subscribe, updates, cancel
    subscribe = channel.subscribe("ctrl", mask=cc.SubscriptionType.DBE_VALUE)
    pair.to_server(subscribe)
    assert channel.subscriptions == {subscribe.subscriptionid: subscribe}
    assert peer.subscriptions == {subscribe.subscriptionid: subscribe}
    for value in (1.0, 2.0):
        pair.to_client(cc.EventAddResponse(value, subscribe.data_type,
                                           subscribe.subscriptionid))
    cancel = channel.unsubscribe(subscribe.subscriptionid)
    pair.to_server(cancel)
    # Updates already on their way are still fine until the server acknowledges.
    pair.to_client(cc.EventAddResponse(3.0, subscribe.data_type, subscribe.subscriptionid))
    pair.to_client(cc.EventCancelResponse(cancel.data_type, cancel.data_count, cancel.sid,
                                          cancel.subscriptionid))
    assert channel.subscriptions == peer.subscriptions == {}

    # housekeeping on the circuit
    pair.to_server(cc.EchoRequest(), cc.EventsOffRequest(), cc.EventsOnRequest(),
                   cc.ReadSyncRequest(), cc.ClientNameRequest("me"), cc.HostNameRequest("h"))
    pair.to_client(cc.EchoResponse())

    # clear: pending answers are still delivered while closing
    late = channel.read()
    pair.to_server(late, channel.clear())
    assert channel.state is peer.state is S.CLOSING
    pair.to_client(cc.ReadNotifyResponse(1.0, late.data_type, late.ioid))
    pair.to_client(cc.ClearChannelResponse(42, channel.cid))
    assert channel.state is peer.state is S.CLOSED
    assert pair.client.channels == pair.server.channels == {}
    assert pair.client.channels_by_sid == pair.server.channels_by_sid == {}


def test_monitor_updates_in_every_channel_state():
    """Updates (which recv checks on a shorter path than other messages) are legal while
    the subscription lives, also while the channel closes, and refused with a reason once
    the channel, its subscription or the circuit is gone."""
    pair = Pair()
    channel, _ = pair.connect("cap:ao")
    subscribe = channel.subscribe()
    pair.to_server(subscribe)
    update = cc.EventAddResponse(1.0, subscribe.data_type, subscribe.subscriptionid)
    pair.to_client(update, update)
    assert channel.state is S.CONNECTED
    pair.to_server(channel.clear())
    pair.to_client(update)
    assert channel.state is S.CLOSING
    pair.to_client(cc.ClearChannelResponse(42, channel.cid))
    with pytest.raises(cc.RemoteProtocolError, match=r"EventAddResponse names no known "
                       rf"channel or request: subscriptionid {subscribe.subscriptionid}"):
        pair.client.recv(bytes(update))

    pair = Pair()
    channel, _ = pair.connect("cap:ao")
    pair.to_server(subscribe := channel.subscribe())
    update = cc.EventAddResponse(2.0, subscribe.data_type, subscribe.subscriptionid)
    pair.to_client(cc.ServerDisconnResponse(channel.cid))
    with pytest.raises(cc.RemoteProtocolError, match=r"subscriptionid"):
        pair.client.recv(bytes(update))

    pair = Pair()
    channel, _ = pair.connect("cap:ao")
    pair.to_server(subscribe := channel.subscribe())
    update = cc.EventAddResponse(3.0, subscribe.data_type, subscribe.subscriptionid)
    pair.client.disconnect()
    with pytest.raises(cc.RemoteProtocolError, match=r"EventAddResponse on the circuit to "
                       r".*'disconnected'"):
        pair.client.recv(bytes(update))


def test_subscriptions_are_listed_under_their_channel_only():
    """Requests are kept by the circuit, ids by each channel: a subscription id that a
    client uses again for another channel moves to that channel."""
    pair = Pair()
    (one, one_peer), (two, two_peer) = pair.connect("cap:one"), pair.connect("cap:two")
    first = one.subscribe("time", subscriptionid=77)
    second = two.subscribe("time")
    pair.to_server(first, second)
    assert one.subscriptions == {77: first} and two.subscriptions == {
        second.subscriptionid: second}
    assert one_peer.subscriptions == {77: first}
    update = cc.EventAddResponse(1.0, first.data_type, 77)
    assert pair.to_client(update) == [update]
    again = two.subscribe("time", subscriptionid=77)
    pair.to_server(again)
    assert (one.subscriptions, two.subscriptions[77]) == ({}, again)
    assert (one_peer.subscriptions, two_peer.subscriptions[77]) == ({}, again)


def test_server_disconnects_a_channel():
    pair = Pair()
    channel, peer = pair.connect("cap:ao")
    pair.to_server(channel.subscribe())
    read = channel.read()
    pair.to_server(read)
    pair.to_client(cc.ServerDisconnResponse(channel.cid))
    assert channel.state is peer.state is S.DISCONNECTED
    assert pair.client.channels == pair.server.channels == {}
    assert pair.client.pending_requests() == {} and not channel.subscriptions
    # The late answer to the read is now an error: the request was dropped.
    with pytest.raises(cc.RemoteProtocolError, match=f"ioid {read.ioid}"):
        pair.client.recv(bytes(cc.ReadNotifyResponse(1.0, read.data_type, read.ioid)))


def test_server_disconnects_while_closing_or_before_answering_create():
    pair = Pair()
    channel, _ = pair.connect("a")
    pair.to_server(channel.clear())
    pair.to_client(cc.ServerDisconnResponse(channel.cid))
    assert channel.state is S.CLOSED
    waiting = pair.client.new_channel("b")
    pair.to_server(waiting.create())
    pair.to_client(cc.ServerDisconnResponse(waiting.cid))
    assert waiting.state is S.DISCONNECTED
    assert pair.client.channels == pair.server.channels == {}


def test_create_failure():
    pair = Pair()
    channel = pair.client.new_channel("no:such:pv")
    pair.to_server(channel.create())
    peer = pair.server.channels[channel.cid]
    pair.to_client(cc.CreateChFailResponse(channel.cid))
    assert channel.state is peer.state is S.FAILED
    assert pair.client.channels == pair.server.channels == {}
    with pytest.raises(cc.LocalProtocolError, match=r"ReadNotifyRequest.*'no:such:pv'.*failed"):
        channel.read()


def test_error_responses_end_the_request_they_refuse():
    pair = Pair()
    channel, peer = pair.connect("cap:str", ChannelType.STRING)
    read = channel.read(ChannelType.DOUBLE)
    subscribe = channel.subscribe(ChannelType.DOUBLE)
    write = channel.write("x")
    pair.to_server(read, subscribe, write)
    for request in (read, subscribe, write):
        pair.to_client(cc.ErrorResponse(request, channel.cid, cc.EcaStatus.ECA_NOCONVERT))
    assert pair.client.pending_requests() == pair.server.pending_requests() == {}
    assert channel.subscriptions == peer.subscriptions == {}
    assert channel.state is S.CONNECTED
    # An error about no channel in particular concerns the circuit.
    pair.to_client(cc.ErrorResponse(cc.EchoRequest(), 0xFFFFFFFF, cc.EcaStatus.ECA_INTERNAL))
    # Before the channel is connected, an error leaves it waiting.
    waiting = pair.client.new_channel("later")
    pair.to_server(waiting.create())
    pair.to_client(cc.ErrorResponse(waiting.create(), waiting.cid, cc.EcaStatus.ECA_ALLOCMEM))
    assert waiting.state is S.AWAIT_CREATE_CHAN_RESPONSE


def test_the_circuit_going_away():
    pair = Pair()
    channel, _ = pair.connect("a")
    pair.to_server(channel.read(), channel.subscribe())
    pair.client.recv(bytes(cc.EchoResponse())[:7])  # half a message
    pair.client.disconnect()
    assert pair.client.state is C.DISCONNECTED
    assert channel.state is S.DISCONNECTED and not channel.subscriptions
    assert pair.client.pending_requests() == {} and pair.client.buffered == 0
    with pytest.raises(cc.LocalProtocolError, match=r"EchoRequest.*'disconnected'"):
        pair.client.send(cc.EchoRequest())
    with pytest.raises(cc.RemoteProtocolError, match=r"EchoResponse.*'disconnected'"):
        pair.client.recv(bytes(cc.EchoResponse()))


def test_a_server_may_send_its_version_first():
    pair = Pair(connect=False)
    pair.to_client(cc.VersionResponse(priority=0))
    assert pair.client.state is C.SEND_VERSION_REQUEST
    pair.to_server(cc.VersionRequest(priority=0))
    assert pair.client.state is pair.server.state is C.CONNECTED


def test_channel_helpers_use_the_native_type_and_fresh_ids():
    pair = Pair()
    channel, _ = pair.connect("w", ChannelType.LONG, 100)
    first, second = channel.read(), channel.read(data_count=5)
    assert first.data_type == ChannelType.LONG and first.data_count == 0
    assert second.data_count == 5 and first.ioid != second.ioid
    assert channel.subscribe("gr").data_type == ChannelType.GR_LONG
    assert channel.write([1, 2], "ctrl").data_type == ChannelType.CTRL_LONG
    assert channel.read(ChannelType.STSACK_STRING).data_type == 37


# --- illegal sequences ----------------------------------------------------------------------------

def test_sending_before_the_channel_is_connected():
    pair = Pair()
    channel = pair.client.new_channel("cap:ai")
    pair.to_server(channel.create())
    for make in (channel.read, channel.subscribe, channel.clear, lambda: channel.write(1.0),
                 lambda: channel.read("time")):
        with pytest.raises(cc.LocalProtocolError,
                           match=r"cannot send \w+Request for channel 'cap:ai'.*"
                                 r"'await create response'"):
            make()


def test_sending_a_request_for_a_closing_channel():
    pair = Pair()
    channel, _ = pair.connect("cap:ai")
    read = channel.read()
    pair.to_server(channel.clear())
    with pytest.raises(cc.LocalProtocolError,
                       match=r"ReadNotifyRequest is not allowed for channel 'cap:ai' "
                             r"\(cid=\d+\) in state 'closing'"):
        pair.client.send(read)


def test_receiving_a_second_create_response():
    pair = Pair()
    channel, _ = pair.connect("cap:ai")
    again = cc.CreateChanResponse(ChannelType.DOUBLE, 1, channel.cid, channel.sid)
    with pytest.raises(cc.RemoteProtocolError,
                       match=r"CreateChanResponse is not allowed for channel 'cap:ai' "
                             r"\(cid=\d+\) in state 'connected'"):
        pair.client.recv(bytes(again))


def test_receiving_a_clear_confirmation_nobody_asked_for():
    pair = Pair()
    channel, peer = pair.connect("x")
    with pytest.raises(cc.LocalProtocolError,
                       match=r"ClearChannelResponse is not allowed for channel 'x'.*'connected'"):
        pair.server.send(cc.ClearChannelResponse(peer.sid, peer.cid))
    with pytest.raises(cc.RemoteProtocolError,
                       match=r"ClearChannelResponse is not allowed for channel 'x'.*'connected'"):
        pair.client.recv(bytes(cc.ClearChannelResponse(channel.sid, channel.cid)))


def test_a_server_receiving_requests_for_a_closing_channel():
    pair = Pair()
    channel, _ = pair.connect("cap:ai")
    subscribe = channel.subscribe()
    pair.to_server(channel.clear())
    with pytest.raises(cc.RemoteProtocolError,
                       match=r"EventAddRequest is not allowed for channel 'cap:ai'.*'closing'"):
        pair.server.recv(bytes(subscribe))


def test_answers_to_unknown_requests():
    pair = Pair()
    channel, _ = pair.connect("x")
    cases = [
        (cc.ReadNotifyResponse(1.0, ChannelType.DOUBLE, ioid=999), r"ioid 999"),
        (cc.WriteNotifyResponse(ChannelType.DOUBLE, 1, ioid=998), r"ioid 998"),
        (cc.EventAddResponse(1.0, ChannelType.DOUBLE, subscriptionid=997),
         r"subscriptionid 997"),
        (cc.EventCancelResponse(ChannelType.DOUBLE, 1, channel.sid, 996),
         r"subscriptionid 996"),
        (cc.AccessRightsResponse(cid=995, access_rights=3), r"cid 995"),
    ]
    for message, what in cases:
        with pytest.raises(cc.RemoteProtocolError,
                           match=rf"{type(message).__name__} names no known channel or "
                                 rf"request: {what}.*'connected'"):
            pair.client.recv(bytes(message))
    with pytest.raises(cc.LocalProtocolError, match=r"ReadNotifyRequest.*sid 12345"):
        pair.client.send(cc.ReadNotifyRequest(ChannelType.DOUBLE, 1, sid=12345, ioid=1))


def test_circuit_messages_out_of_order():
    pair = Pair(connect=False)
    channel = pair.client.new_channel("early")
    with pytest.raises(cc.LocalProtocolError,
                       match=r"CreateChanRequest for channel 'early' before the circuit is "
                             r"connected \(circuit state: 'send version request'\)"):
        pair.client.send(channel.create())
    with pytest.raises(cc.RemoteProtocolError,
                       match=r"CreateChanRequest for channel 'x' before the circuit is "
                             r"connected \(circuit state: 'await version request'\)"):
        pair.server.recv(bytes(cc.CreateChanRequest("x", 1)))
    pair = Pair()
    with pytest.raises(cc.LocalProtocolError,
                       match=r"VersionRequest is not allowed on the circuit .* in state "
                             r"'connected'"):
        pair.client.send(cc.VersionRequest())


def test_a_side_sending_the_other_sides_messages():
    pair = Pair()
    with pytest.raises(cc.LocalProtocolError, match="a client cannot send EchoResponse"):
        pair.client.send(cc.EchoResponse())
    with pytest.raises(cc.LocalProtocolError, match="a server cannot send EchoRequest"):
        pair.server.send(cc.EchoRequest())
    with pytest.raises(cc.LocalProtocolError, match="does not send SearchRequest over UDP"):
        cc.Broadcaster(cc.SERVER).send(cc.SearchRequest("x", 1))


def test_ids_already_in_use():
    pair = Pair()
    channel, _ = pair.connect("x")
    with pytest.raises(cc.LocalProtocolError, match=f"cid {channel.cid} is already used"):
        pair.client.new_channel("y", cid=channel.cid)
    with pytest.raises(cc.RemoteProtocolError, match=r"CreateChanRequest for 'z' reuses cid"):
        pair.server.recv(bytes(cc.CreateChanRequest("z", channel.cid)))
    with pytest.raises(cc.LocalProtocolError,
                       match=r"EventCancelRequest: channel 'x' has no subscription 77"):
        channel.unsubscribe(77)


# --- the tables themselves --------------------------------------------------------------------------

def test_server_tables_mirror_client_tables():
    client, server = cc.CHANNEL_TRANSITIONS[cc.CLIENT], cc.CHANNEL_TRANSITIONS[cc.SERVER]
    for state, table in client.items():
        mirrored = {cls: MIRROR[target] for cls, target in table.items()}
        assert server[MIRROR[state]] == mirrored, state
    assert set(server) == {MIRROR[state] for state in client}


def test_every_channel_message_says_which_channel_it_is_for():
    routed = set(_BY_CID) | set(_BY_SID) | set(_BY_IOID) | set(_BY_SUBSCRIPTION)
    assert _state.CHANNEL_MESSAGES <= routed


def test_final_states_accept_nothing():
    for role in (cc.CLIENT, cc.SERVER):
        for state in (S.CLOSED, S.FAILED, S.DISCONNECTED):
            assert cc.CHANNEL_TRANSITIONS[role][state] == {}
        assert cc.CIRCUIT_TRANSITIONS[role][C.DISCONNECTED] == {}


def test_every_message_sent_over_tcp_is_in_some_table():
    tcp = (set(cc.REQUESTS.values()) | set(cc.RESPONSES.values())) - set(
        cls for classes in cc.DATAGRAM_MESSAGES.values() for cls in classes)
    tcp |= {cc.VersionRequest, cc.VersionResponse, cc.EventCancelResponse}
    in_tables = {cls for role in (cc.CLIENT, cc.SERVER)
                 for tables in (cc.CHANNEL_TRANSITIONS[role], cc.CIRCUIT_TRANSITIONS[role])
                 for table in tables.values() for cls in table}
    assert tcp <= in_tables


# --- random legal sequences -------------------------------------------------------------------------

class ConversationMachine(RuleBasedStateMachine):
    """Random legal conversations; after each step both sides must agree."""

    channels = Bundle("channels")

    @initialize()
    def start(self):
        self.pair = Pair()
        self.reads = {}  # ioid -> request, for reads and writes awaiting an answer
        self.subscriptions = {}  # subscriptionid -> (channel, request)

    @rule(target=channels, name=st.text(min_size=1, max_size=20),
          accept=st.booleans(), data_type=st.sampled_from(list(cc.NATIVE_TYPES)))
    def create(self, name, accept, data_type):
        channel = self.pair.client.new_channel(name)
        self.pair.to_server(channel.create())
        peer = self.pair.server.channels[channel.cid]
        if accept:
            self.pair.to_client(*self.pair.server.accept_channel(
                peer, next(self.pair.sids), data_type, 3))
        else:
            self.pair.to_client(cc.CreateChFailResponse(channel.cid))
        return channel

    @rule(channel=channels, family=st.sampled_from(cc.FAMILIES), notify=st.booleans(),
          write=st.booleans())
    def request(self, channel, family, notify, write):
        if channel.state is not S.CONNECTED:
            return
        if write:
            value = ["a", "b"] if channel.native_data_type == ChannelType.STRING else [1, 2]
            request = channel.write(value, family, notify=notify)
        else:
            request = channel.read(family)
        self.pair.to_server(request)
        if not write or notify:
            self.reads[request.ioid] = request

    @rule(data=st.data(), refuse=st.booleans())
    def answer(self, data, refuse):
        if not self.reads:
            return
        ioid = data.draw(st.sampled_from(sorted(self.reads)))
        request = self.reads.pop(ioid)
        channel = self.pair.client.channels_by_sid[request.sid]
        if refuse:
            answer = cc.ErrorResponse(request, channel.cid, cc.EcaStatus.ECA_GETFAIL)
        elif isinstance(request, cc.ReadNotifyRequest):
            value = [""] if cc.native_type(request.data_type) == ChannelType.STRING else [0]
            answer = cc.ReadNotifyResponse(value, request.data_type, ioid)
        else:
            answer = cc.WriteNotifyResponse(request.data_type, request.data_count, ioid)
        self.pair.to_client(answer)

    @rule(channel=channels)
    def subscribe(self, channel):
        if channel.state is S.CONNECTED:
            request = channel.subscribe("time")
            self.pair.to_server(request)
            self.subscriptions[request.subscriptionid] = (channel, request)

    @rule(data=st.data(), cancel=st.booleans())
    def update_or_cancel(self, data, cancel):
        active = {k: v for k, v in self.subscriptions.items() if k in v[0].subscriptions}
        if not active:
            return
        subscriptionid = data.draw(st.sampled_from(sorted(active)))
        channel, request = active[subscriptionid]
        if cancel and channel.state is S.CONNECTED:
            cancel_request = channel.unsubscribe(subscriptionid)
            self.pair.to_server(cancel_request)
            self.pair.to_client(cc.EventCancelResponse(request.data_type, request.data_count,
                                                       request.sid, subscriptionid))
            del self.subscriptions[subscriptionid]
        else:
            value = [""] if cc.native_type(request.data_type) == ChannelType.STRING else [1]
            self.pair.to_client(cc.EventAddResponse(value, request.data_type,
                                                    subscriptionid))

    @rule(channel=consumes(channels), confirm=st.booleans())
    def clear(self, channel, confirm):
        if channel.state is not S.CONNECTED:
            return
        self.pair.to_server(channel.clear())
        if confirm:
            self.pair.to_client(cc.ClearChannelResponse(channel.sid, channel.cid))
            assert channel.state is S.CLOSED
            self._forget(channel)

    @rule(channel=consumes(channels))
    def server_drops(self, channel):
        if channel.state not in (S.CONNECTED, S.CLOSING):
            return
        self.pair.to_client(cc.ServerDisconnResponse(channel.cid))
        assert channel.state in (S.DISCONNECTED, S.CLOSED)
        self._forget(channel)

    @rule()
    def echo(self):
        self.pair.to_server(cc.EchoRequest())
        self.pair.to_client(cc.EchoResponse())

    def _forget(self, channel):
        self.reads = {k: r for k, r in self.reads.items() if r.sid != channel.sid}
        self.subscriptions = {k: v for k, v in self.subscriptions.items()
                              if v[0] is not channel}

    @invariant()
    def both_sides_agree(self):
        if not hasattr(self, "pair"):
            return
        client, server = self.pair.client, self.pair.server
        assert client.channels.keys() == server.channels.keys()
        for cid, channel in client.channels.items():
            peer = server.channels[cid]
            assert MIRROR[channel.state] is peer.state
            assert channel.sid == peer.sid
            assert channel.subscriptions.keys() == peer.subscriptions.keys()
            assert channel.state not in (S.CLOSED, S.FAILED, S.DISCONNECTED)
        assert client.pending_requests().keys() == server.pending_requests().keys() \
            == self.reads.keys()


TestConversations = ConversationMachine.TestCase
TestConversations.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


# --- the UDP side ------------------------------------------------------------------------------------

def test_search_batches_fit_their_datagrams():
    broadcaster = cc.Broadcaster(cc.CLIENT)
    requests = [cc.SearchRequest(f"PV:{i:04d}:" + "x" * (i % 50), i) for i in range(400)]
    requests.append(cc.SearchRequest("huge:" + "y" * 3000, 400))  # alone, over the limit
    datagrams = broadcaster.search_datagrams(requests, sequence_id=9, max_size=1000)
    found = []
    for datagram in datagrams:
        version, *searches = cc.read_datagram(datagram, cc.CLIENT)
        assert isinstance(version, cc.VersionRequest)
        assert (version.priority, version.sequence_id) == (1, 9)  # sequence marked valid
        assert len(datagram) <= 1000 or len(searches) == 1
        found += searches
    assert found == requests
    # No two neighbouring datagrams could have been one.
    for first, second in zip(datagrams, datagrams[1:]):
        assert len(first) + len(second) - 16 > 1000


def test_debug_logging_shows_the_traffic(caplog):
    with caplog.at_level("DEBUG", logger="caproto_core"):
        pair = Pair()
        channel, _ = pair.connect("cap:ai")
        pair.to_server(channel.read(ioid=5))
        pair.to_client(cc.ReadNotifyResponse([3.25], ChannelType.DOUBLE, ioid=5))
    lines = [r.getMessage() for r in caplog.records if r.name == "caproto_core.circuit"]
    assert "127.0.0.1:5064 >> CreateChanRequest(name='cap:ai', cid=1, version=13)" in lines
    assert any(line.startswith("127.0.0.1:40000 << ReadNotifyRequest(") and "ioid=5" in line
               for line in lines)
    assert any("<< ReadNotifyResponse(" in line and "data=array([3.25])" in line
               for line in lines)
    circuit = cc.VirtualCircuit(cc.CLIENT, ("::1", 5064, 0, 0))  # IPv6 address tuples too
    with caplog.at_level("DEBUG", logger="caproto_core"):
        circuit.send(cc.VersionRequest())
    assert caplog.records[-1].getMessage() == \
        "::1:5064 >> VersionRequest(priority=0, version=13, sequence_id=0)"
