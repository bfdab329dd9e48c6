"""``Connection``: one client's TCP circuit, from received bytes to answers and monitors.

The bytes are split into single messages here (``message_size``) and each is handed to
the core's ``VirtualCircuit(SERVER)`` on its own, so a request the core rejects is
answered with an ERROR and the next one is still served. Output goes through an
out-buffer that is written when the socket can take it; monitor updates wait (only the
newest per subscription is kept) while the client has asked for EVENTS_OFF, while the
buffer is backed up, or while the server's hooks pause it.
"""
from __future__ import annotations

import logging
import selectors
import socket
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Callable

from caproto_core import (CLIENT, DBR_TYPES, REQUESTS, SERVER, AccessRights,
                          AccessRightsResponse, ChannelType, ClearChannelRequest,
                          ClearChannelResponse, ClientNameRequest, CreateChanRequest,
                          CreateChFailResponse, EcaStatus, EchoRequest, EchoResponse,
                          ErrorResponse, EventAddRequest, EventAddResponse,
                          EventCancelRequest, EventCancelResponse, EventsOffRequest,
                          EventsOnRequest, HostNameRequest, LocalProtocolError, Message,
                          NotFoundResponse, ProtocolError, ReadNotifyRequest, ReadNotifyResponse,
                          ReadSyncRequest, RemoteProtocolError, SearchReply, SearchRequest,
                          SearchResponse, ServerDisconnResponse,
                          VersionRequest, VersionResponse, VirtualCircuit,
                          WriteNotifyRequest, WriteNotifyResponse, WriteRequest, dbr_type,
                          message_size, peek_header, read_stream)

from .payloads import data_message, encode_read
from .pv import PV, Done

if TYPE_CHECKING:
    from .._event_loop import Timer
    from .server import Server

logger = logging.getLogger("epics_compat.server")

HEADER_SIZE = 16
#: Bytes read per recv when no large message is being received.
RECV_SIZE = 65536
#: Monitor updates wait while this much output is queued for a client.
BACKLOG_LIMIT = 4 * 1024 * 1024
_WRITABLE_TYPES = tuple(ChannelType(i) for i in range(7)) + (ChannelType.PUT_ACKT,
                                                              ChannelType.PUT_ACKS)


class Subscription:
    """One EVENT_ADD of a client: which PV, as which type, for which events."""
    __slots__ = ("connection", "sid", "pv", "subscriptionid", "data_type", "data_count",
                 "mask", "held", "sent_version")

    def __init__(self, connection: Connection, sid: int, pv: PV, request: EventAddRequest):
        self.connection = connection
        self.sid = sid
        self.pv = pv
        self.subscriptionid = request.subscriptionid
        self.data_type = request.data_type
        self.data_count = request.data_count
        self.mask = int(request.mask)
        self.held: Message | None = None  # the newest update, while updates must wait
        self.sent_version = -1  # the PV's version that its last update carried

    def __repr__(self) -> str:
        return (f"<Subscription {self.pv.name!r} id={self.subscriptionid} "
                f"type={self.data_type} mask={self.mask}>")


class Connection:
    """The server side of one TCP circuit."""

    def __init__(self, server: Server, sock: socket.socket, address: tuple[str, int]):
        self.server = server
        self.sock = sock
        self.address = address
        self.circuit = VirtualCircuit(SERVER, address,
                                      max_payload_size=server.max_payload_size)
        self.pvs: dict[int, PV] = {}  # by sid
        self.subscriptions: dict[int, Subscription] = {}  # by subscriptionid
        self.client_name = ""
        self.host_name = ""
        self.events_on = True
        self.closed = False
        self._inbuf = bytearray()
        self._outbuf = bytearray()
        self._held: dict[int, Subscription] = {}  # subscriptions with an update waiting
        self._delayed: deque[tuple[float, bytes]] = deque()
        self._delay_timer: Timer | None = None
        self._close_when_flushed = False
        self._releasing = False
        self._handlers: dict[type, Callable[[Any], None]] = {
            VersionRequest: self._on_version, HostNameRequest: self._on_host_name,
            ClientNameRequest: self._on_client_name, CreateChanRequest: self._on_create,
            ClearChannelRequest: self._on_clear, ReadNotifyRequest: self._on_read,
            WriteRequest: self._on_write, WriteNotifyRequest: self._on_write,
            EventAddRequest: self._on_event_add, EventCancelRequest: self._on_event_cancel,
            EventsOffRequest: self._on_events_off, EventsOnRequest: self._on_events_on,
            EchoRequest: self._on_echo, ReadSyncRequest: lambda message: None,
            SearchRequest: self._on_search,
        }
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._interest = 0
        self.update_interest()

    def __repr__(self) -> str:
        return (f"<Connection {self.address[0]}:{self.address[1]} channels={len(self.pvs)} "
                f"subscriptions={len(self.subscriptions)}>")

    # --- socket events --------------------------------------------------------------------

    def update_interest(self) -> None:
        """Watch for reading unless paused, and for writing while output is queued."""
        if not self.server.loop.in_loop_thread():
            self.server.loop.call_soon(self.update_interest)
            return
        if self.closed:
            return
        paused = self.server.hooks.paused
        events = 0 if paused else selectors.EVENT_READ
        if self._outbuf and not paused:
            events |= selectors.EVENT_WRITE
        if events != self._interest:
            self._interest = events
            self.server.loop.watch(self.sock, events, self._on_ready)

    def _on_ready(self, mask: int) -> None:
        if mask & selectors.EVENT_READ:
            self._receive()
        if mask & selectors.EVENT_WRITE and not self.closed:
            self.flush()

    def _receive(self) -> None:
        wanted = message_size(self._inbuf)
        size = RECV_SIZE if wanted is None else max(RECV_SIZE, wanted - len(self._inbuf))
        try:
            data = self.sock.recv(size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.close(f"receive failed: {exc}")
            return
        if not data:
            self.close("the client closed the circuit")
            return
        self._inbuf += data
        self.process_input()

    def process_input(self) -> None:
        """Handle every complete message received so far (nothing while paused)."""
        while not self.closed and not self.server.hooks.paused:
            size = message_size(self._inbuf)
            if size is None:
                return
            if size - HEADER_SIZE > self.server.max_payload_size + 8:
                self._fatal(f"a message announces {size} bytes, more than the "
                            f"{self.server.max_payload_size} allowed")
                return
            if len(self._inbuf) < size:
                return
            chunk = bytes(self._inbuf[:size])
            del self._inbuf[:size]
            self._handle(chunk)

    def _handle(self, chunk: bytes) -> None:
        try:
            messages = self.circuit.recv(chunk)
        except RemoteProtocolError as exc:
            self._refuse(chunk, exc)
            return
        for message in messages:
            handler = self._handlers.get(type(message))
            if handler is None:
                logger.debug("%s: nothing to do for %r", self, message)
                continue
            try:
                handler(message)
            except Exception:  # a bug or a hook's failure: answer, log, carry on
                logger.exception("%s: error handling %r", self, message)
                self._reply_error(message, EcaStatus.ECA_INTERNAL, raw=True)

    # --- requests -------------------------------------------------------------------------

    def _on_version(self, message: VersionRequest) -> None:
        self.circuit.priority = message.priority
        self.send(VersionResponse(message.priority))

    def _on_host_name(self, message: HostNameRequest) -> None:
        self.host_name = message.name

    def _on_client_name(self, message: ClientNameRequest) -> None:
        self.client_name = message.name

    def _on_echo(self, message: EchoRequest) -> None:
        self.send(EchoResponse())

    def _on_search(self, message: SearchRequest) -> None:
        """A search over TCP (the server used as a name server): answered on the circuit."""
        if self.server.find(message.name) is not None:
            self.send(SearchResponse(self.server.port, self.server.reply_ip(), message.cid))
        elif message.reply == SearchReply.DO_REPLY:
            self.send(NotFoundResponse(message.cid, reply=message.reply))

    def _on_create(self, message: CreateChanRequest) -> None:
        channel = self.circuit.channels[message.cid]
        pv = self.server.find(message.name)
        if pv is None or self.server.hooks.refuses_channel(message.name, pv):
            logger.debug("%s: refusing channel %r", self, message.name)
            self.send(CreateChFailResponse(message.cid))
            return
        sid = self.server.new_sid()
        self.pvs[sid] = pv
        self.send(*self.circuit.accept_channel(channel, sid, pv.native, pv.count,
                                               self.server.rights(pv)))

    def _on_clear(self, message: ClearChannelRequest) -> None:
        channel = self.circuit.channels[message.cid]
        for subscription in [s for s in self.subscriptions.values() if s.sid == channel.sid]:
            self._drop_subscription(subscription)
        sid = channel.sid
        assert sid is not None  # a cid in channels is of an accepted channel
        self.pvs.pop(sid, None)
        self.send(ClearChannelResponse(sid, channel.cid))

    def _channel(self, message: Any) -> tuple[Any, PV]:
        return self.circuit.channels_by_sid[message.sid], self.pvs[message.sid]

    def _on_read(self, message: ReadNotifyRequest) -> None:
        channel, pv = self._channel(message)
        status = self.server.hooks.request_status(pv, "read")
        if status is not None:
            self.send(ErrorResponse(message, channel.cid, status))
            return
        readable = bool(self.server.rights(pv) & AccessRights.READ)
        try:
            payload, count, status = encode_read(pv, message.data_type, message.data_count,
                                                 readable)
        except ValueError:
            self.send(ErrorResponse(message, channel.cid, EcaStatus.ECA_BADTYPE))
            return
        self.send(data_message(ReadNotifyResponse, message.data_type, count, status,
                               message.ioid, payload))

    def _on_write(self, message: WriteRequest | WriteNotifyRequest) -> None:
        channel, pv = self._channel(message)
        notify = isinstance(message, WriteNotifyRequest)
        status = self.server.hooks.request_status(pv, "write")
        if status is not None:
            self.send(ErrorResponse(message, channel.cid, status))
            return
        done = self._completion(message, channel.cid, notify)
        if not self.server.rights(pv) & AccessRights.WRITE:
            done(EcaStatus.ECA_NOWTACCESS)
            return
        if message.data_type not in _WRITABLE_TYPES:
            done(EcaStatus.ECA_BADTYPE)
            return
        if message.data_type in (ChannelType.PUT_ACKT, ChannelType.PUT_ACKS):
            done()  # alarm acknowledgement: nothing to acknowledge here
            return
        try:
            values = pv.from_client(message.data, dbr_type(message.data_type).native)
            pv.put(values, done)
        except (ValueError, TypeError, ProtocolError) as exc:
            done(EcaStatus.ECA_PUTFAIL, str(exc))

    def _completion(self, message: WriteRequest | WriteNotifyRequest, cid: int,
                    notify: bool) -> Done:
        """A thread-safe ``done(status, reason)`` that answers ``message`` once.

        A WRITE_NOTIFY is answered with ``status``; a plain WRITE only when it failed,
        with an ERROR that carries ``reason`` (as rsrv tells a client its put failed).
        """
        answered: list[int] = []

        def done(status: int = EcaStatus.ECA_NORMAL, reason: str = "") -> None:
            with self.server.lock:
                if answered or self.closed:
                    return
                answered.append(status)
                if status != EcaStatus.ECA_NORMAL:
                    logger.info("%s: write to %s refused (status %#x)%s", self,
                                self.pvs.get(message.sid, "?"), status,
                                f": {reason}" if reason else "")
                if notify:
                    self.send(WriteNotifyResponse(message.data_type, message.data_count,
                                                  message.ioid, status))
                elif status != EcaStatus.ECA_NORMAL:
                    self.send(ErrorResponse(message, cid, status, reason[:200]))
        return done

    def _on_event_add(self, message: EventAddRequest) -> None:
        channel, pv = self._channel(message)
        status = self.server.hooks.request_status(pv, "subscribe")
        if status is None and (message.data_type not in DBR_TYPES
                               or message.data_type >= ChannelType.PUT_ACKT):
            status = EcaStatus.ECA_BADTYPE
        if status is not None:
            self.send(ErrorResponse(message, channel.cid, status))
            return
        subscription = Subscription(self, channel.sid, pv, message)
        old = self.subscriptions.pop(message.subscriptionid, None)
        if old is not None:
            self.server.unsubscribe(old)
        self.subscriptions[message.subscriptionid] = subscription
        self.server.subscribe(subscription)
        # The first update comes at once, whatever the mask.
        self.post_event(subscription, {}, pv.version)

    def _on_event_cancel(self, message: EventCancelRequest) -> None:
        subscription = self.subscriptions.get(message.subscriptionid)
        channel = self.circuit.channels_by_sid[message.sid]
        if subscription is None or subscription.sid != message.sid:
            self._reply_error(message, EcaStatus.ECA_BADMONID, raw=True, cid=channel.cid)
            return
        self._drop_subscription(subscription)
        self.send(EventCancelResponse(subscription.data_type, subscription.data_count,
                                      subscription.sid, subscription.subscriptionid))

    def _drop_subscription(self, subscription: Subscription) -> None:
        self.subscriptions.pop(subscription.subscriptionid, None)
        self._held.pop(subscription.subscriptionid, None)
        self.server.unsubscribe(subscription)

    def _on_events_off(self, message: EventsOffRequest) -> None:
        self.events_on = False

    def _on_events_on(self, message: EventsOnRequest) -> None:
        self.events_on = True
        self.release_held()

    # --- errors ---------------------------------------------------------------------------

    def _refuse(self, chunk: bytes, exc: ProtocolError) -> None:
        """Answer a message the core refused (malformed, or illegal now) with an ERROR."""
        header = peek_header(chunk)
        assert header is not None  # a whole message: process_input saw its size
        try:
            messages, _ = read_stream(chunk, CLIENT)
            message = messages[0]
        except (ProtocolError, IndexError):
            message = None
        if isinstance(message, VersionRequest):
            return  # a second VERSION is harmless
        if message is None and header.command not in REQUESTS:
            status = EcaStatus.ECA_INTERNAL  # no such command
        elif message is None and header.data_type not in DBR_TYPES:
            status = EcaStatus.ECA_BADTYPE
        elif message is None:
            status = EcaStatus.ECA_BADCOUNT  # a payload too short for its count
        elif isinstance(message, EventCancelRequest):
            status = EcaStatus.ECA_BADMONID
        else:
            status = EcaStatus.ECA_BADCHID
        logger.info("%s: refusing a request: %s", self, exc)
        self._write(bytes(ErrorResponse(chunk[:HEADER_SIZE], header.parameter1, status,
                                        str(exc)[:200])))

    def _reply_error(self, message: Message, status: int, raw: bool = False,
                     cid: int | None = None) -> None:
        error = ErrorResponse(message, message.parameter1 if cid is None else cid, status)
        if raw:
            self._write(bytes(error))
        else:
            self.send(error)

    def _fatal(self, reason: str) -> None:
        """A byte stream that cannot be followed any more: say so, then hang up."""
        header = bytes(self._inbuf[:HEADER_SIZE])
        self._write(bytes(ErrorResponse(header, 0, EcaStatus.ECA_TOLARGE, reason)))
        self._close_when_flushed = True
        self._inbuf.clear()
        self.flush()

    # --- output ---------------------------------------------------------------------------

    def send(self, *messages: Message) -> bool:
        """Queue messages through the circuit's state machine; False if it refuses."""
        if self.closed:
            return False
        try:
            buffers = self.circuit.send(*messages)
        except LocalProtocolError as exc:  # e.g. a late completion after a clear
            logger.debug("%s: not sending %r: %s", self, messages, exc)
            return False
        self._write(b"".join(buffers))
        return True

    def send_raw(self, data: bytes, close: bool = False) -> None:
        """Queue bytes that bypass the protocol checks (fault injection); optionally hang up after."""
        self._write(data)
        if close:
            self._close_when_flushed = True
            self.flush()

    def _write(self, data: bytes) -> None:
        if self.closed:
            return
        delay = self.server.hooks.reply_delay
        if delay > 0 or self._delayed:
            release = time.monotonic() + delay
            if self._delayed:
                release = max(release, self._delayed[-1][0])
            self._delayed.append((release, data))
            if self._delay_timer is None:
                self._delay_timer = self.server.loop.call_later(delay, self._release_delayed)
            return
        self._outbuf += data
        self.flush()

    def _release_delayed(self) -> None:
        self._delay_timer = None
        now = time.monotonic()
        while self._delayed and self._delayed[0][0] <= now:
            self._outbuf += self._delayed.popleft()[1]
        if self._delayed:
            self._delay_timer = self.server.loop.call_later(self._delayed[0][0] - now,
                                                            self._release_delayed)
        self.flush()

    def flush(self) -> None:
        """Write what the socket takes now; watch for writability if some is left."""
        if self.closed:
            return
        if not self.server.hooks.paused:
            while self._outbuf:
                try:
                    sent = self.sock.send(self._outbuf)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:
                    reason = f"send failed: {exc}"
                    self.server.loop.call_soon(lambda: self.close(reason))
                    return
                del self._outbuf[:sent]
            if not self._outbuf and self._close_when_flushed:
                self.server.loop.call_soon(
                    lambda: self.close("closed by the server after a fault"))
                return
        self.update_interest()
        if self._held and self._ready_for_events():
            self.release_held()

    # --- monitors -------------------------------------------------------------------------

    def _ready_for_events(self) -> bool:
        return (self.events_on and not self.server.hooks.paused
                and len(self._outbuf) < BACKLOG_LIMIT)

    def post_event(self, subscription: Subscription, cache: dict, version: int) -> None:
        """Send (or hold) an update of ``subscription``; ``cache`` shares encodings.

        ``version`` is the PV's, read before its state is encoded, so the update carries
        that state or a newer one. A write posts after it lets go of the PV, so the first
        update of a new subscription may already carry what the write then posts: that
        post is skipped rather than sent twice.
        """
        if version == subscription.sent_version:
            return
        subscription.sent_version = version
        pv = subscription.pv
        readable = bool(self.server.rights(pv) & AccessRights.READ)
        key = (subscription.data_type, subscription.data_count, readable)
        if key not in cache:
            cache[key] = encode_read(pv, subscription.data_type, subscription.data_count,
                                     readable)
        payload, count, status = cache[key]
        subscription.held = data_message(EventAddResponse, subscription.data_type, count,
                                         status, subscription.subscriptionid, payload)
        self._held[subscription.subscriptionid] = subscription  # a newer one replaces it
        if self._ready_for_events():
            self.release_held()

    def release_held(self) -> None:
        """Send the newest held update of each subscription, oldest subscription first."""
        if self._releasing:
            return  # called back through send -> flush
        self._releasing = True
        try:
            while self._held and self._ready_for_events():
                subscription = self._held.pop(next(iter(self._held)))
                message, subscription.held = subscription.held, None
                if message is not None:
                    self.send(message)
        finally:
            self._releasing = False

    # --- access and closing ------------------------------------------------------------------

    def access_changed(self, pv: PV) -> None:
        """Tell the client the new access rights of each of its channels to ``pv``."""
        for sid, channel_pv in list(self.pvs.items()):
            if channel_pv is pv:
                channel = self.circuit.channels_by_sid.get(sid)
                if channel is not None:
                    self.send(AccessRightsResponse(channel.cid, self.server.rights(pv)))

    def pv_removed(self, pv: PV) -> None:
        """The server stopped serving ``pv``: disconnect the client's channels to it."""
        for sid, channel_pv in list(self.pvs.items()):
            if channel_pv is not pv:
                continue
            for subscription in [s for s in self.subscriptions.values() if s.sid == sid]:
                self._drop_subscription(subscription)
            del self.pvs[sid]
            channel = self.circuit.channels_by_sid.get(sid)
            if channel is not None:
                self.send(ServerDisconnResponse(channel.cid))

    def close(self, reason: str = "closed by the server") -> None:
        """Drop the circuit: the socket, its channels and subscriptions."""
        if self.closed:
            return
        if not self.server.loop.in_loop_thread():
            self.server.loop.call_soon(lambda: self.close(reason))
            return
        self.closed = True
        logger.info("%s: %s", self, reason)
        self.server.loop.unregister(self.sock)
        try:
            self.sock.close()
        except OSError:
            pass
        if self._delay_timer is not None:
            self._delay_timer.cancel()
        self.circuit.disconnect()
        for subscription in list(self.subscriptions.values()):
            self.server.unsubscribe(subscription)
        self.subscriptions.clear()
        self._held.clear()
        self.server.connection_closed(self)

