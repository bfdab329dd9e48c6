"""``VirtualCircuit``: the state of one TCP connection, for either role; no I/O.

The owner feeds it what arrived (``recv``) and asks it for what to write (``send``). It
checks every message against the tables in ``_state``, assigns and tracks the ids
(cid, sid, ioid, subscriptionid), and raises a ProtocolError naming the message, the
channel and the state when something is out of place.
"""
from __future__ import annotations

import itertools
import logging
from typing import Any

from ._constants import DEFAULT_MAX_PAYLOAD_SIZE, PROTOCOL_VERSION, AccessRights, \
    SubscriptionType
from ._dbr import Buffer, dbr_type, promote
from ._errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from ._messages import CLIENT, SERVER, AccessRightsResponse, ClearChannelRequest, \
    ClearChannelResponse, CreateChanRequest, CreateChanResponse, CreateChFailResponse, \
    ErrorResponse, EventAddRequest, EventAddResponse, EventCancelRequest, EventCancelResponse, \
    Message, ReadNotifyRequest, ReadNotifyResponse, Role, ServerDisconnResponse, \
    WriteNotifyRequest, WriteNotifyResponse, WriteRequest
from ._readers import message_size, read_stream
from ._state import CHANNEL_MESSAGES, CHANNEL_TRANSITIONS, CIRCUIT_TRANSITIONS, ChannelState, \
    CircuitState

logger = logging.getLogger("caproto_core.circuit")

# How each channel message names its channel: by cid, by sid, or through a request id.
_BY_CID = (CreateChanRequest, CreateChanResponse, AccessRightsResponse, CreateChFailResponse,
           ServerDisconnResponse, ClearChannelRequest, ClearChannelResponse)
_BY_SID = (ReadNotifyRequest, WriteRequest, WriteNotifyRequest, EventAddRequest,
           EventCancelRequest)
_BY_IOID = (ReadNotifyResponse, WriteNotifyResponse)
_BY_SUBSCRIPTION = (EventAddResponse, EventCancelResponse)


def _as_update(message: EventCancelResponse) -> EventAddResponse:
    """An empty EVENT_ADD acknowledges a cancel only when one was sent; otherwise it is
    an update with no elements (rsrv sends one for an empty array of a native type)."""
    update = object.__new__(EventAddResponse)
    for slot in Message.__slots__:
        if hasattr(message, slot):  # some slots are set only when needed
            object.__setattr__(update, slot, getattr(message, slot))
    return update


class Channel:
    """One channel on a circuit, as one side sees it. Created by the circuit."""
    __slots__ = ("circuit", "name", "cid", "sid", "native_data_type", "native_data_count",
                 "access_rights", "state", "_subscription_ids")

    def __init__(self, circuit: VirtualCircuit, name: str, cid: int):
        self.circuit = circuit
        self.name = name
        self.cid = cid
        self.sid: int | None = None
        self.native_data_type: int | None = None
        self.native_data_count: int | None = None
        self.access_rights = AccessRights.NO_ACCESS
        self.state = (ChannelState.SEND_CREATE_CHAN_REQUEST if circuit.our_role is CLIENT
                      else ChannelState.AWAIT_CREATE_CHAN_REQUEST)
        # The ids of its active subscriptions; their requests are kept by the circuit.
        # A tuple, not a dict per channel: 0.2 kB less for each monitored channel.
        self._subscription_ids: tuple[int, ...] = ()

    def __repr__(self) -> str:
        return f"<Channel {self.name!r} cid={self.cid} sid={self.sid} {self.state.value}>"

    @property
    def subscriptions(self) -> dict[int, EventAddRequest]:
        """subscriptionid -> the EventAddRequest that opened it, for the active ones.

        A new dict at each call: changing it changes nothing.
        """
        requests = self.circuit._subscriptions
        return {subscriptionid: requests[subscriptionid]
                for subscriptionid in self._subscription_ids}

    # Messages a client sends for this channel; ids come from the circuit.

    def create(self) -> CreateChanRequest:
        return CreateChanRequest(self.name, self.cid, PROTOCOL_VERSION)

    def read(self, data_type: int | None = None, data_count: int | None = None,
             ioid: int | None = None) -> ReadNotifyRequest:
        return ReadNotifyRequest(self._type(data_type, ReadNotifyRequest),
                                 self._count(data_count), self._sid(ReadNotifyRequest),
                                 self.circuit.new_ioid() if ioid is None else ioid)

    def write(self, data: object, data_type: int | None = None, data_count: int | None = None,
              notify: bool = True, ioid: int | None = None,
              metadata: dict[str, Any] | None = None) -> WriteRequest | WriteNotifyRequest:
        cls: type[WriteRequest | WriteNotifyRequest] = \
            WriteNotifyRequest if notify else WriteRequest
        return cls(data, self._type(data_type, cls), self._sid(cls),
                   self.circuit.new_ioid() if ioid is None else ioid, data_count, metadata)

    def subscribe(self, data_type: int | None = None, data_count: int | None = None,
                  mask: int = SubscriptionType.DBE_VALUE | SubscriptionType.DBE_ALARM,
                  subscriptionid: int | None = None) -> EventAddRequest:
        data_type = self._type(data_type, EventAddRequest)
        sid = self._sid(EventAddRequest)
        if subscriptionid is None:
            subscriptionid = self.circuit.new_subscriptionid()
        return EventAddRequest(data_type, self._count(data_count), sid, subscriptionid, mask)

    def unsubscribe(self, subscriptionid: int) -> EventCancelRequest:
        request = self.circuit._subscriptions.get(subscriptionid) \
            if subscriptionid in self._subscription_ids else None
        if request is None:
            raise LocalProtocolError(f"cannot send EventCancelRequest: channel {self.name!r} "
                                     f"has no subscription {subscriptionid} (state: "
                                     f"{self.state.value!r}, subscriptions: "
                                     f"{sorted(self.subscriptions)})")
        return EventCancelRequest(request.data_type, request.data_count,
                                  self._sid(EventCancelRequest), subscriptionid)

    def clear(self) -> ClearChannelRequest:
        return ClearChannelRequest(self._sid(ClearChannelRequest), self.cid)

    def _sid(self, cls: type) -> int:
        if self.sid is None:
            raise LocalProtocolError(f"cannot send {cls.__name__} for channel {self.name!r}: "
                                     f"it is not connected (state: {self.state.value!r})")
        return self.sid

    def _type(self, data_type: int | str | None, cls: type) -> int:
        if data_type is None or isinstance(data_type, str):
            self._sid(cls)  # the native type is known once connected
            native = self.native_data_type
            if native is None:  # a server's channel: it does not send requests
                raise LocalProtocolError(f"cannot send {cls.__name__} for channel "
                                         f"{self.name!r}: its native type is not known")
            return native if data_type is None else promote(native, data_type)
        return dbr_type(data_type).type_id

    def _count(self, data_count: int | None) -> int:
        # Count 0 asks the server for the current length of a variable-length array.
        return 0 if data_count is None else data_count


class VirtualCircuit:
    """One TCP connection between a client and a server at one priority."""

    def __init__(self, our_role: Role, address: tuple[str, int], priority: int = 0,
                 max_payload_size: int = DEFAULT_MAX_PAYLOAD_SIZE):
        if our_role not in (CLIENT, SERVER):
            raise TypeError(f"our_role must be CLIENT or SERVER, not {our_role!r}")
        self.our_role = our_role
        self.their_role = SERVER if our_role is CLIENT else CLIENT
        self.address = address
        self.priority = priority
        self.max_payload_size = max_payload_size
        self.state = (CircuitState.SEND_VERSION_REQUEST if our_role is CLIENT
                      else CircuitState.AWAIT_VERSION_REQUEST)
        # "host:port" for log lines (any address tuple: IPv6 ones have four items).
        self._peer = ":".join(str(part) for part in tuple(address)[:2])
        self._channel_tables = CHANNEL_TRANSITIONS[our_role]
        self._circuit_tables = CIRCUIT_TRANSITIONS[our_role]
        # Channel states in which a received monitor update is legal and leaves the
        # channel where it is (see recv).
        self._update_states = frozenset(
            state for state, table in self._channel_tables.items()
            if table.get(EventAddResponse) is state)
        self.channels: dict[int, Channel] = {}  # by cid
        self.channels_by_sid: dict[int, Channel] = {}
        self._ioids: dict[int, tuple[Channel, Message]] = {}  # pending reads and writes
        #: subscriptionid -> the EventAddRequest that opened it (its sid names the
        #: channel), while it is active
        self._subscriptions: dict[int, EventAddRequest] = {}
        self._cancelling: set[int] = set()  # subscriptionids whose cancel was sent
        self._ids = itertools.count(1)
        # The start of an incomplete message, in the chunks it arrived in: joined once
        # when complete, so a large message costs one copy, not one per chunk.
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._wanted = 0  # bytes needed before parsing again is worth it
        self._log = logger.isEnabledFor

    def __repr__(self) -> str:
        return (f"<VirtualCircuit {self.our_role.value} {self.address[0]}:{self.address[1]} "
                f"priority={self.priority} {self.state.value} channels={len(self.channels)}>")

    # --- ids -------------------------------------------------------------------------------

    def new_ioid(self) -> int:
        return next(self._ids) & 0xFFFFFFFF

    new_subscriptionid = new_ioid

    def new_channel(self, name: str, cid: int | None = None) -> Channel:
        """A client's new channel on this circuit (send ``channel.create()`` next)."""
        cid = next(self._ids) if cid is None else cid
        if cid in self.channels:
            raise LocalProtocolError(f"cid {cid} is already used by {self.channels[cid]!r}")
        channel = Channel(self, name, cid)
        self.channels[cid] = channel
        return channel

    def pending_requests(self, channel: Channel | None = None) -> dict[int, Message]:
        """ioid -> request for the reads and writes not answered yet."""
        return {ioid: request for ioid, (owner, request) in self._ioids.items()
                if channel is None or owner is channel}

    # --- the sans-I/O interface ---------------------------------------------------------------

    def send(self, *messages: Message) -> list[bytes | memoryview]:
        """Buffers to write for ``messages``, after checking and recording each one."""
        buffers: list[bytes | memoryview] = []
        debug = self._log(logging.DEBUG)
        for message in messages:
            if message.ROLE is not self.our_role:
                raise LocalProtocolError(f"a {self.our_role.value} cannot send "
                                         f"{type(message).__name__}")
            self._process(message, LocalProtocolError)
            if debug:
                logger.debug("%s >> %r", self._peer, message)
            buffers.extend(message.buffers())
        return buffers

    def recv(self, data: Buffer) -> list[Message]:
        """The complete messages in what arrived so far, after checking each one.

        Payloads are views of ``data`` when it holds whole messages (no copy): a caller
        that passes a bytearray or memoryview hands it over and must not reuse it. The
        start of an incomplete message is copied and kept until the rest arrives.
        """
        if self._chunks:
            self._chunks.append(bytes(data))
            self._buffered += len(data)
            if self._buffered < self._wanted:
                return []
            data = b"".join(self._chunks)
            self._chunks = []
            self._buffered = 0
        messages, consumed = read_stream(data, self.their_role, self.max_payload_size)
        if consumed < len(data):
            rest = bytes(data[consumed:])
            self._chunks = [rest]
            self._buffered = len(rest)
            self._wanted = message_size(rest) or len(rest) + 1
        debug = self._log(logging.DEBUG)
        subscriptions = self._subscriptions
        by_sid = self.channels_by_sid
        update_states = self._update_states
        connected = CircuitState.CONNECTED
        for index, message in enumerate(messages):
            cls = type(message)
            if cls is EventAddResponse:
                # The bulk of a busy circuit: an update of a live subscription is legal
                # and changes no state, so it needs none of _process's bookkeeping. (Any
                # other goes through _process, which says what is wrong with it.)
                request = subscriptions.get(message.parameter2)  # the subscriptionid
                # parameter1 of the request is the channel's sid (slots, not properties)
                channel = None if request is None else by_sid.get(request.parameter1)
                if channel is not None and channel.state in update_states \
                        and self.state is connected:
                    if debug:
                        logger.debug("%s << %r", self._peer, message)
                    continue
            elif type(message) is EventCancelResponse \
                    and message.subscriptionid in subscriptions \
                    and message.subscriptionid not in self._cancelling:
                message = messages[index] = _as_update(message)
            if debug:
                logger.debug("%s << %r", self._peer, message)
            self._process(message, RemoteProtocolError)
        return messages

    def next_message_size(self) -> int | None:
        """Bytes of the incomplete message buffered so far, once its header is in."""
        if len(self._chunks) > 1 and len(self._chunks[0]) < 24:
            self._chunks = [b"".join(self._chunks)]
        return message_size(self._chunks[0]) if self._chunks else None

    def take_partial(self) -> bytes:
        """Hand over the buffered start of an incomplete message, and forget it.

        For an I/O layer that receives the rest of a large message straight into a
        buffer of its final size (see ``next_message_size``) and then passes the whole
        message to ``recv``.
        """
        partial = b"".join(self._chunks)
        self._chunks = []
        self._buffered = 0
        return partial

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete message held until the rest arrives."""
        return self._buffered

    def disconnect(self) -> None:
        """The connection is gone: every channel is disconnected, pending requests dropped."""
        self.state = CircuitState.DISCONNECTED
        for channel in self.channels.values():
            if channel.state not in (ChannelState.CLOSED, ChannelState.FAILED):
                channel.state = ChannelState.DISCONNECTED
            channel._subscription_ids = ()
        self._ioids.clear()
        self._subscriptions.clear()
        self._cancelling.clear()
        self._chunks = []
        self._buffered = 0

    # --- bookkeeping ------------------------------------------------------------------------

    def _process(self, message: Message, error: type[ProtocolError]) -> None:
        cls = type(message)
        if self.state is CircuitState.DISCONNECTED:
            raise error(f"{cls.__name__} on the circuit to {self.address}, which is in state "
                        f"{self.state.value!r}")
        channel = self._channel_of(message, error)
        if channel is None:
            self._circuit_transition(message, error)
            return
        if self.state is not CircuitState.CONNECTED:
            raise error(f"{cls.__name__} for channel {channel.name!r} before the circuit "
                        f"is connected (circuit state: {self.state.value!r})")
        table = self._channel_tables[channel.state]
        if cls not in table:
            raise error(f"{cls.__name__} is not allowed for channel {channel.name!r} "
                        f"(cid={channel.cid}) in state {channel.state.value!r}")
        channel.state = table[cls]
        self._record(channel, message)

    def _circuit_transition(self, message: Message, error: type[ProtocolError]) -> None:
        table = self._circuit_tables[self.state]
        cls = type(message)
        if cls not in table:
            raise error(f"{cls.__name__} is not allowed on the circuit to {self.address} "
                        f"in state {self.state.value!r}")
        self.state = table[cls]

    def _channel_of(self, message: Any, error: type[ProtocolError]) -> Channel | None:
        """The channel a message concerns, or None for circuit-wide messages.

        ``message`` is typed Any: the class tables below say which id fields it has.
        """
        cls = type(message)
        if cls is ErrorResponse:
            return self.channels.get(message.cid)
        if cls not in CHANNEL_MESSAGES:
            return None
        if cls is CreateChanRequest and self.our_role is SERVER:
            if message.cid in self.channels:
                raise error(f"CreateChanRequest for {message.name!r} reuses cid {message.cid}")
            self.channels[message.cid] = Channel(self, message.name, message.cid)
        if cls in _BY_CID:
            found, what = self.channels.get(message.cid), f"cid {message.cid} is no channel"
        elif cls in _BY_SID:
            found, what = (self.channels_by_sid.get(message.sid),
                           f"sid {message.sid} is no connected channel")
        elif cls in _BY_IOID:
            pending = self._ioids.get(message.ioid)
            found = pending[0] if pending else None
            what = f"ioid {message.ioid} is no pending read or write"
        else:
            request = self._subscriptions.get(message.subscriptionid)
            # parameter1 is the request's sid; the slot is faster than the property, and
            # this runs for every monitor update.
            found = self.channels_by_sid.get(request.parameter1) if request is not None \
                else None
            what = f"subscriptionid {message.subscriptionid} is no active subscription"
        if found is None:
            raise error(f"{cls.__name__} names no known channel or request: {what} on the "
                        f"circuit to {self.address} (circuit state: {self.state.value!r}; "
                        f"{message!r})")
        return found

    def _record(self, channel: Channel, message: Message) -> None:
        """Update ids and channel facts after a legal message."""
        if type(message) is CreateChanResponse:
            channel.sid = message.sid
            channel.native_data_type = message.data_type
            channel.native_data_count = message.data_count
            self.channels_by_sid[message.sid] = channel
        elif type(message) is AccessRightsResponse:
            channel.access_rights = message.access_rights
        elif type(message) is ReadNotifyRequest or type(message) is WriteNotifyRequest:
            self._ioids[message.ioid] = (channel, message)
        elif type(message) is ReadNotifyResponse or type(message) is WriteNotifyResponse:
            del self._ioids[message.ioid]
        elif type(message) is EventAddRequest:
            self._add_subscription(channel, message)
        elif type(message) is EventCancelRequest:
            self._cancelling.add(message.subscriptionid)
        elif type(message) is EventCancelResponse:
            self._cancelling.discard(message.subscriptionid)
            self._drop_subscription(channel, message.subscriptionid)
        elif type(message) is ErrorResponse:
            self._drop_failed_request(channel, message)
        elif channel.state in (ChannelState.CLOSED, ChannelState.FAILED,
                               ChannelState.DISCONNECTED):
            self._forget(channel)

    def _drop_failed_request(self, channel: Channel, error: ErrorResponse) -> None:
        """A refused read, write or subscription will get no other answer: forget its id."""
        failed = error.original_request
        if isinstance(failed, (ReadNotifyRequest, WriteNotifyRequest)):
            self._ioids.pop(failed.ioid, None)
        elif isinstance(failed, EventAddRequest):
            self._drop_subscription(channel, failed.subscriptionid)

    def _forget(self, channel: Channel) -> None:
        self.channels.pop(channel.cid, None)
        if channel.sid is not None:
            self.channels_by_sid.pop(channel.sid, None)
        for ioid in [i for i, (owner, _) in self._ioids.items() if owner is channel]:
            del self._ioids[ioid]
        for subscriptionid in channel._subscription_ids:
            self._subscriptions.pop(subscriptionid, None)
        channel._subscription_ids = ()

    def _add_subscription(self, channel: Channel, request: EventAddRequest) -> None:
        subscriptionid = request.subscriptionid
        previous = self._subscriptions.get(subscriptionid)
        if previous is not None:  # the id is reused: it no longer names the old one
            owner = self.channels_by_sid.get(previous.sid)
            if owner is not None:
                self._drop_subscription(owner, subscriptionid)
        self._subscriptions[subscriptionid] = request
        channel._subscription_ids += (subscriptionid,)

    def _drop_subscription(self, channel: Channel, subscriptionid: int) -> None:
        self._subscriptions.pop(subscriptionid, None)
        if subscriptionid in channel._subscription_ids:
            channel._subscription_ids = tuple(i for i in channel._subscription_ids
                                              if i != subscriptionid)

    # --- server side helpers -------------------------------------------------------------------

    def accept_channel(self, channel: Channel, sid: int, data_type: int, data_count: int,
                       access_rights: int = AccessRights.READ_WRITE
                       ) -> tuple[AccessRightsResponse, CreateChanResponse]:
        """A server's answer to a CreateChanRequest: access rights, then the channel."""
        if self.our_role is not SERVER:
            raise LocalProtocolError("only a server accepts channels")
        channel.sid = sid
        self.channels_by_sid[sid] = channel
        return (AccessRightsResponse(channel.cid, access_rights),
                CreateChanResponse(data_type, data_count, channel.cid, sid))
