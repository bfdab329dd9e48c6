"""The asyncio transport: channels, searches and circuits on the running event loop.

One ``LoopClient`` per event loop, made when a coroutine of that loop first asks for a
channel: its UDP socket is watched by the loop, its circuits are asyncio protocols, its
timers are the loop's. Nothing here runs on another thread, so nothing is locked; threads
that each run a loop each have a client of their own (as aioca has a channel cache per
loop). The search policy is the engine's (``epics_compat.engine``), shared with the
threaded client.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import threading
import weakref
from typing import Callable

import caproto_core as core
from caproto_core import CLIENT, ProtocolError

from .._config import Config
from .._large_buffers import RECEIVE_SIZE, LargeBuffers, LargeMessage
from ..engine import (CONNECT_TIMEOUT, REFUSED_RETRY, SEND_ECHO, CircuitChannels,
                      CircuitHealth, RepeaterRegistration, RetryPolicy, SearchPlan,
                      beacon_server, state_after_loss)
from ..host import host_name, resolve, start_repeater, user_name
from . import cadef

logger = logging.getLogger("epics_compat.aioca")

# Access rights bits as plain ints: an int & an IntFlag goes through enum's arithmetic.
_READ, _WRITE = int(core.AccessRights.READ), int(core.AccessRights.WRITE)

#: Seconds between the checks for silent circuits (echo) and unanswered connects.
CHECK_PERIOD = 1.0
METADATA_ALLOWANCE = 512


class Disconnected(Exception):
    """The circuit carrying a request went away before its answer came."""


class CAChannel:
    """One PV as this loop's client knows it: searched for, then on a circuit."""
    __slots__ = ("name", "cid", "search_attempts", "next_search", "state", "native_type",
                 "element_count", "read_access", "write_access", "host", "circuit",
                 "core", "connected", "listeners", "subscriptions", "subscribers",
                 "__weakref__")

    def __init__(self, name: str, cid: int):
        self.name = name
        self.cid = cid
        self.search_attempts = 0
        self.next_search = 0.0
        self.state = cadef.cs_never_conn
        self.native_type = 7  # DBF_NO_ACCESS until connected, as libca reports it
        self.element_count = 0
        self.read_access = self.write_access = False
        self.host = "<disconnected>"
        self.circuit: Circuit | None = None
        self.core: core.Channel | None = None
        self.connected = asyncio.Event()
        #: Called with True/False as the channel connects and disconnects.
        self.listeners: set[Callable[[bool], None]] = set()
        #: subscription -> (dbr code, count, mask, on_update), sent on each connect.
        self.subscriptions: dict[object, tuple[int, int, int, Callable]] = {}
        #: Every subscription made on this channel and not closed (opening ones too):
        #: a purge closes them.
        self.subscribers: set = set()

    def __repr__(self) -> str:
        return f"<CAChannel {self.name!r} state={self.state}>"


class Awaited:
    """A read or write sent on a circuit: the future of its answer."""
    __slots__ = ("channel", "future")

    def __init__(self, channel: CAChannel, future: asyncio.Future):
        self.channel = channel
        self.future = future

    def fail(self, reason: str) -> None:
        if not self.future.done():
            self.future.set_exception(Disconnected(reason))


class Circuit(CircuitChannels[CAChannel, Awaited], asyncio.BufferedProtocol):
    """One TCP connection to a server, as an asyncio protocol; what it carries and what
    connecting and losing it do are the engine's (CircuitChannels)."""

    def __init__(self, client: LoopClient, address: tuple[str, int]):
        super().__init__(core.VirtualCircuit(
            CLIENT, address, 0,
            max_payload_size=client.config.max_array_bytes + METADATA_ALLOWANCE))
        self.client = client
        self.address = address
        self.host = f"{address[0]}:{address[1]}"
        self.transport: asyncio.Transport | None = None
        self.updates: dict[int, Callable] = {}  # by subscriptionid
        self.closed = False
        self.health = CircuitHealth(client.loop.time())
        self.large: LargeMessage | None = None  # being received
        self.large_buffers = LargeBuffers()

    # --- asyncio's side ------------------------------------------------------------------

    def connection_made(self, transport) -> None:
        if self.closed:  # given up on meanwhile
            transport.close()
            return
        self.transport = transport
        self.health.connected(self.client.loop.time())
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.send(*self.greeting(host_name(), user_name(), hold_events=False))

    def get_buffer(self, sizehint: int) -> memoryview:
        """Where asyncio receives the next bytes: the rest of a large message in its own
        buffer, else the client's inbox (whose bytes buffer_updated copies out)."""
        if self.large is not None:
            return self.large.room
        return self.client.inbox

    def buffer_updated(self, nbytes: int) -> None:
        self.health.heard(self.client.loop.time())
        large = self.large
        try:
            if large is None:
                # The messages keep bytes of their own: a copy of what came.
                messages = self.core.recv(bytes(self.client.inbox[:nbytes]))
            else:
                large.filled += nbytes
                if not large.complete:
                    large.convert()  # while the server sends the rest
                    return
                self.large = None
                messages = large.parse(self.core)
        except ProtocolError as exc:
            logger.error("dropping the circuit to %s: %s", self.host, exc)
            self.client.lose(self, str(exc))
            return
        # A large message begun: the rest is received in place.
        self.large = LargeMessage.starting(self.core, self.large_buffers)
        for message in messages:
            handler = self._HANDLERS.get(type(message))
            if handler is not None:
                handler(self, message)

    def connection_lost(self, exc) -> None:
        self.client.lose(self, f"connection lost: {exc}" if exc else "closed by the server")

    # --- our side --------------------------------------------------------------------------

    def close(self) -> list[CAChannel]:
        """Close the connection and fail the requests awaiting an answer; the channels it
        carried are returned, for the client to disconnect or close."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()
        requests, channels = self.lost()
        for awaited in requests:
            awaited.fail(self.host)
        return channels

    def send(self, *messages: core.Message) -> None:
        if self.transport is None or self.closed:
            raise Disconnected(f"circuit to {self.host} is not connected")
        self.transport.write(b"".join(self.core.send(*messages)))

    def request(self, channel: CAChannel,
                message: core.ReadNotifyRequest | core.WriteNotifyRequest) -> asyncio.Future:
        """Send a read or a write with notification; its answer comes in the future."""
        future = self.client.loop.create_future()
        self.send(message)
        self.pending[message.ioid] = Awaited(channel, future)
        return future

    # --- the server's side -----------------------------------------------------------------

    def _on_access_rights(self, message) -> None:
        channel = self.channels.get(message.cid)
        if channel is not None:
            rights = int(message.access_rights)
            channel.read_access = bool(rights & _READ)
            channel.write_access = bool(rights & _WRITE)

    def _on_created(self, message) -> None:
        channel = self.channels.get(message.cid)
        if channel is None:
            return
        channel.native_type = message.data_type
        channel.element_count = message.data_count
        channel.host = self.host
        channel.state = cadef.cs_conn
        channel.connected.set()
        for dbr_code, count, mask, on_update in list(channel.subscriptions.values()):
            self.subscribe(channel, dbr_code, count, mask, on_update)
        for listener in list(channel.listeners):
            listener(True)

    def subscribe(self, channel: CAChannel, dbr_code: int, count: int, mask: int,
                  on_update: Callable) -> int:
        assert channel.core is not None  # connected
        request = channel.core.subscribe(dbr_code, count, mask)
        self.updates[request.subscriptionid] = on_update
        self.send(request)
        return request.subscriptionid

    def _on_refused(self, message) -> None:
        channel = self.refused(message.cid)
        if channel is not None:
            logger.warning("server %s refused channel %r; searching again", self.host,
                           channel.name)
            self.client.disconnected(channel, retry_after=REFUSED_RETRY)

    def _on_server_disconnect(self, message) -> None:
        channel, requests = self.dropped(message.cid)
        if channel is not None:
            for awaited in requests:
                awaited.fail(channel.name)
            self.client.disconnected(channel)

    def _on_answer(self, message) -> None:
        awaited = self.pending.pop(message.ioid, None)
        if awaited is not None and not awaited.future.done():
            awaited.future.set_result(message)

    def _on_update(self, message) -> None:
        on_update = self.updates.get(message.subscriptionid)
        if on_update is not None:
            on_update(message)

    def _on_cancelled(self, message) -> None:
        self.updates.pop(message.subscriptionid, None)

    def _on_error(self, message) -> None:
        failed = message.original_request
        ioid = getattr(failed, "ioid", None)
        awaited = self.pending.pop(ioid, None) if ioid is not None else None
        if awaited is not None and not awaited.future.done():
            awaited.future.set_result(message)
        elif isinstance(failed, core.EventAddRequest):
            logger.warning("server %s refused a subscription: %s", self.host,
                           message.error_message)
            self.updates.pop(failed.subscriptionid, None)
        else:
            logger.warning("server %s reported an error: %s (%r)", self.host,
                           message.error_message, failed)

    def _on_search_answer(self, message) -> None:
        self.client.found(message, self.address)

    _HANDLERS = {
        core.AccessRightsResponse: _on_access_rights,
        core.CreateChanResponse: _on_created,
        core.CreateChFailResponse: _on_refused,
        core.ServerDisconnResponse: _on_server_disconnect,
        core.ReadNotifyResponse: _on_answer,
        core.WriteNotifyResponse: _on_answer,
        core.EventAddResponse: _on_update,
        core.EventCancelResponse: _on_cancelled,
        core.ErrorResponse: _on_error,
        core.SearchResponse: _on_search_answer,
    }

class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, client: LoopClient):
        self.client = client

    def datagram_received(self, data: bytes, address) -> None:
        self.client.datagram(data, address)

    def error_received(self, exc) -> None:
        logger.debug("UDP error: %s", exc)


class LoopClient:
    """Channels, searches and circuits of one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, config: Config | None = None):
        self.loop = loop
        self.config = config or Config.from_environment()
        #: What the circuits receive into (one at a time, on the loop), copied out at once.
        self.inbox = memoryview(bytearray(RECEIVE_SIZE))
        self.channels: dict[str, CAChannel] = {}
        self._by_cid: dict[int, CAChannel] = {}
        self._cids = iter(range(1, 1 << 32))
        self.circuits: dict[tuple[str, int], Circuit] = {}
        self.plan: SearchPlan[CAChannel] = SearchPlan(self.config.max_search_period,
                                                      loop.time())
        self._retry = RetryPolicy()
        self._broadcaster = core.Broadcaster(CLIENT)
        self._sequence = 0
        self._search_timer: asyncio.TimerHandle | None = None
        self._search_at = float("inf")
        self._targets = self._resolve_targets()
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        self._udp.bind(("", 0))
        self._udp.setblocking(False)
        self._udp_transport: asyncio.DatagramTransport | None = None
        self.repeater_registration = RepeaterRegistration()
        self._closed = False
        # Closed with the loop: asyncio.run (and any loop that shuts down its async
        # generators) closes this generator at the end, and with it every socket here.
        self._lifetime = self._until_the_loop_ends()
        loop.create_task(self._lifetime.__anext__())
        loop.create_task(self._start())
        self._checker = loop.call_later(CHECK_PERIOD, self._check_circuits)

    async def _until_the_loop_ends(self):
        try:
            yield
        finally:
            if not self._closed:
                self.purge()

    async def _start(self) -> None:
        self._udp_transport, _ = await self.loop.create_datagram_endpoint(
            lambda: _Datagrams(self), sock=self._udp)
        self._register_with_repeater()

    def _resolve_targets(self) -> list[tuple[str, int]]:
        targets = []
        for host, port in self.config.search_addresses():
            ip = resolve(host)
            if ip and (ip, port) not in targets:
                targets.append((ip, port))
        return targets

    # --- channels ------------------------------------------------------------------------

    def channel(self, name: str) -> CAChannel:
        """The channel of ``name``, made and searched for if new."""
        channel = self.channels.get(name)
        if channel is None:
            channel = CAChannel(name, next(self._cids))
            self.channels[name] = channel
            self._by_cid[channel.cid] = channel
            self.plan.add(channel.cid, channel)
            self._plan_search(self.loop.time())
        return channel

    def purge(self) -> None:
        """Close every channel and circuit (subscriptions included)."""
        self._closed = True
        for channel in self.channels.values():
            for subscription in list(channel.subscribers):
                subscription.close()
        for circuit in list(self.circuits.values()):
            for channel in list(circuit.channels.values()):
                if channel.core is not None and channel.core.sid is not None:
                    try:
                        circuit.send(channel.core.clear())
                    except (Disconnected, ProtocolError):
                        pass
            circuit.close()
        self.circuits.clear()
        for channel in self.channels.values():
            channel.state = cadef.cs_closed
            channel.connected.clear()
        self.channels.clear()
        self._by_cid.clear()
        self.plan = SearchPlan(self.config.max_search_period, self.loop.time())
        for handle in (self._search_timer, self._checker):
            if handle is not None:
                handle.cancel()
        if self._udp_transport is not None:
            self._udp_transport.close()
        else:
            self._udp.close()

    # --- searching -----------------------------------------------------------------------

    def _plan_search(self, when: float) -> None:
        if when >= self._search_at or self._closed:
            return
        if self._search_timer is not None:
            self._search_timer.cancel()
        self._search_at = when
        self._search_timer = self.loop.call_at(when, self._search)

    def _search(self) -> None:
        now = self.loop.time()
        self._search_timer, self._search_at = None, float("inf")
        due = self.plan.due(now)
        if due:
            self._sequence = (self._sequence + 1) & 0xFFFFFFFF
            requests = [core.SearchRequest(entry.name, cid) for cid, entry in due]
            for datagram in self._broadcaster.search_datagrams(requests, self._sequence):
                for address in self._targets:
                    try:
                        self._udp.sendto(datagram, address)
                    except OSError as exc:
                        logger.debug("search datagram to %s failed: %s", address, exc)
        soonest = self.plan.next_due()
        if soonest is not None:
            self._plan_search(max(soonest, now))

    def datagram(self, data: bytes, address) -> None:
        try:
            messages = self._broadcaster.recv(data, address)
        except ProtocolError as exc:
            logger.warning("ignoring a bad datagram from %s:%d: %s", *address[:2], exc)
            return
        for message in messages:
            if isinstance(message, core.SearchResponse):
                self.found(message, address)
            elif isinstance(message, core.RsrvIsUpResponse):
                self._beacon(message, address)
            elif isinstance(message, core.RepeaterConfirmResponse):
                self.repeater_registration.confirmed = True

    def found(self, response: core.SearchResponse, sender) -> None:
        channel = self._by_cid.get(response.cid)
        if channel is None or self.plan.found(response.cid) is None:
            return  # answered already, or purged
        host = sender[0] if response.parameter1 == core.ADDRESS_OF_SENDER else response.ip
        self._attach(channel, (host, response.port))

    def _beacon(self, beacon: core.RsrvIsUpResponse, sender) -> None:
        now = self.loop.time()
        when = self.plan.beacon(beacon_server(beacon, sender), beacon.beacon_id, now)
        if when is not None:
            self.loop.call_at(when, self._restart_searches)

    def _restart_searches(self) -> None:
        self.plan.restart(self.loop.time())
        self._plan_search(self.loop.time())

    def _register_with_repeater(self) -> None:
        """Ask the host's repeater for beacons; start one if none answers (as libca)."""
        attempt = self.repeater_registration.attempt()
        if attempt is None or self._closed:
            return
        start, next_in = attempt
        if start:
            start_repeater(self.config.repeater_port)
        try:
            self._udp.sendto(bytes(core.RepeaterRegisterRequest("127.0.0.1")),
                             ("127.0.0.1", self.config.repeater_port))
        except OSError as exc:
            logger.debug("repeater registration failed: %s", exc)
        self.loop.call_later(next_in, self._register_with_repeater)

    # --- circuits ------------------------------------------------------------------------

    def _attach(self, channel: CAChannel, address: tuple[str, int]) -> None:
        circuit = self.circuits.get(address)
        if circuit is None:
            circuit = self.circuits[address] = Circuit(self, address)
            self.loop.create_task(self._open(circuit))
        channel.circuit = circuit
        creation = circuit.carry(channel)
        if creation:
            circuit.send(*creation)

    async def _open(self, circuit: Circuit) -> None:
        try:
            await asyncio.wait_for(
                self.loop.create_connection(lambda: circuit, *circuit.address),
                CONNECT_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as exc:
            self.lose(circuit, f"connect failed: {exc}")

    def lose(self, circuit: Circuit, reason: str) -> None:
        """The circuit is gone: its channels disconnect and are searched for again."""
        if circuit.closed:
            return
        logger.info("circuit to %s lost: %s", circuit.host, reason)
        if self.circuits.get(circuit.address) is circuit:
            del self.circuits[circuit.address]
        channels = circuit.close()
        retry_after = self._retry.delay_after_loss(circuit.address, circuit.health,
                                                   self.loop.time())
        for channel in channels:
            self.disconnected(channel, retry_after)

    def disconnected(self, channel: CAChannel, retry_after: float = 0.0) -> None:
        was_connected = channel.state == cadef.cs_conn
        channel.circuit = channel.core = None
        channel.connected.clear()
        channel.read_access = channel.write_access = False
        channel.state = state_after_loss(channel.state)
        if was_connected:
            for listener in list(channel.listeners):
                listener(False)
        if self.channels.get(channel.name) is channel:
            self.loop.call_later(retry_after, self._search_again, channel)

    def _search_again(self, channel: CAChannel) -> None:
        if self.channels.get(channel.name) is channel and channel.circuit is None:
            self.plan.add(channel.cid, channel)
            self._plan_search(self.loop.time())

    def _check_circuits(self) -> None:
        """Echo circuits that were silent for EPICS_CA_CONN_TMO; drop unanswered ones and
        ones that do not connect."""
        now = self.loop.time()
        for circuit in list(self.circuits.values()):
            if circuit.closed:
                continue
            action = circuit.health.check(now, self.config.connection_timeout)
            if action == SEND_ECHO:
                circuit.send(core.EchoRequest())
                circuit.health.echo_sent(now)
            elif action is not None:
                self.lose(circuit, action)
        self._checker = self.loop.call_later(CHECK_PERIOD, self._check_circuits)


_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_clients_lock = threading.Lock()


def client() -> LoopClient:
    """The client of the running event loop (made on first use)."""
    loop = asyncio.get_running_loop()
    with _clients_lock:
        found = _clients.get(loop)
        if found is None or found._closed:
            found = _clients[loop] = LoopClient(loop)
        return found


def purge_all() -> None:
    """Close the channels of every loop's client (the loops need not run)."""
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
    for each in clients:
        if each.loop.is_closed():
            each._udp.close()
            continue
        each.purge()
