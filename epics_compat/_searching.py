"""The threaded client's UDP side: searches (the engine's plan, sent in batches to every
destination and name server), their answers, beacons and the repeater."""
from __future__ import annotations

import logging
import time

import caproto_core as core
from caproto_core import ProtocolError

from ._context_part import ContextPart
from ._channels import CS_CLOSED, ChannelAccessError, ClientChannel
from ._tcp_circuit import Circuit
from .engine import beacon_server
from .host import resolve, start_repeater

logger = logging.getLogger("epics_compat.context")


class Searching(ContextPart):
    """Context methods that find channels; they run on the I/O thread."""
    _next_search_tick: float  # when the next search tick is planned (inf: none)
    _search_sequence: int  # of the last batch sent, echoed by servers

    def _start_search(self, channel: ClientChannel) -> None:
        if channel.state == CS_CLOSED or channel.chid not in self.channels:
            return
        self.search_plan.add(channel.chid, channel)
        self._plan_search_tick(0.0)

    def _plan_search_tick(self, delay: float) -> None:
        when = time.monotonic() + delay
        if when < self._next_search_tick:
            self._next_search_tick = when
            self.loop.call_later(delay, self._search_tick)

    def _search_tick(self) -> None:
        """Send every search that is due, batched into as few datagrams as fit."""
        now = time.monotonic()
        self._next_search_tick = float("inf")
        due = [channel for _, channel in self.search_plan.due(now)]
        if due:
            self._search_sequence = (self._search_sequence + 1) & 0xFFFFFFFF
            requests = [core.SearchRequest(c.name, c.chid) for c in due]
            datagrams = self._broadcaster.search_datagrams(requests, self._search_sequence)
            targets = self._search_targets()
            logger.debug("search for %d names in %d datagrams to %s", len(requests),
                         len(datagrams), targets)
            for address in targets:
                for datagram in datagrams:
                    try:
                        self._udp.sendto(datagram, address)
                    except OSError as exc:
                        logger.debug("search datagram to %s failed: %s", address, exc)
            for circuit in self._name_servers.values():
                if circuit.connected:
                    with circuit.lock:
                        try:
                            circuit.send(*requests)
                        except ChannelAccessError as exc:
                            logger.debug("search via name server failed: %s", exc)
        soonest = self.search_plan.next_due()
        if soonest is not None:
            self._plan_search_tick(max(0.0, soonest - now))

    def _search_targets(self) -> list[tuple[str, int]]:
        """Where searches go, host names resolved once each (as libca does): given a
        name, ``sendto`` asked the resolver at every search, and a slow resolver stalled
        the I/O thread and every circuit with it."""
        targets = []
        for host, port in self.config.search_addresses():
            ip = self._resolved.get(host)
            if ip is None:
                ip = self._resolved[host] = resolve(host)
            if ip and (ip, port) not in targets:  # a name and its address: sent once
                targets.append((ip, port))
        return targets

    def _on_datagram(self, mask: int) -> None:
        while True:
            try:
                data, address = self._udp.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP port unreachable reported on Linux
                logger.debug("UDP receive error: %s", exc)
                continue
            try:
                messages = self._broadcaster.recv(data, address)
            except ProtocolError as exc:
                logger.warning("ignoring bad datagram from %s:%d: %s", *address, exc)
                continue
            for message in messages:
                if isinstance(message, core.SearchResponse):
                    self._on_search_response(message, address)
                elif isinstance(message, core.RsrvIsUpResponse):
                    self._on_beacon(message, address)
                elif isinstance(message, core.RepeaterConfirmResponse):
                    self.repeater_registration.confirmed = True

    def _register_with_repeater(self) -> None:
        """Ask the host's repeater for beacons; start one if none answers (like libca)."""
        attempt = self.repeater_registration.attempt()
        if attempt is None or not self._running:
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

    def _on_beacon(self, beacon: core.RsrvIsUpResponse, sender) -> None:
        """A new or restarted server (beacon ids start again) prompts searching at once."""
        now = time.monotonic()
        when = self.search_plan.beacon(beacon_server(beacon, sender), beacon.beacon_id, now)
        if when is not None:
            self.loop.call_later(when - now, self._restart_searches)

    def _restart_searches(self) -> None:
        self.search_plan.restart(time.monotonic())
        if self.search_plan.searching:
            self._plan_search_tick(0.0)

    def _on_search_response(self, response: core.SearchResponse, sender) -> None:
        channel = self.search_plan.found(response.cid)
        if channel is None:
            return  # answered already, or cleared meanwhile
        host = sender[0] if response.parameter1 == core.ADDRESS_OF_SENDER else response.ip
        self._attach(channel, (host, response.port))

    def _connect_name_server(self, address: tuple[str, int]) -> None:
        """A TCP circuit to a name server (EPICS_CA_NAME_SERVERS), kept open."""
        if not self._running:
            return
        circuit = Circuit(self, address, 0)
        circuit.name_server = True
        self._name_servers[address] = circuit
        self._connect(circuit)
