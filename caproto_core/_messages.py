"""One class per Channel Access command and direction.

A message is the 16-byte header (24 with the extended form for large payloads) plus its
payload, kept as received: ``bytes(message)`` is exactly what was on the wire, padding
bytes included. Named properties give the header fields their meaning for each command
(``sid``, ``ioid``, ...). Messages are immutable and compare equal by value. Data
payloads are decoded when first asked for (``.data``, ``.metadata``).

Requests are sent by clients (``Role.CLIENT``), responses by servers (``Role.SERVER``).
"""
from __future__ import annotations

import enum
import struct
from operator import attrgetter, index
from typing import Any, Callable, ClassVar

from . import _dbr
from ._errors import RemoteProtocolError
from ._constants import PROTOCOL_VERSION, AccessRights, Command, EcaStatus, SearchReply, \
    SubscriptionType, eca_message

HEADER = struct.Struct(">HHHHII")
EXTENDED_SIZES = struct.Struct(">II")  # after a header whose payload_size is 0xFFFF
#: Payloads up to this size are copied by ``detach``; larger ones are left as they are.
DETACH_LIMIT = 1 << 16
#: Sizes from which the extended header is needed (the short fields hold up to 0xFFFE).
EXTENDED_THRESHOLD = 0xFFFF


class Role(enum.Enum):
    """Which side sent the bytes being read: decides requests vs responses."""
    CLIENT = "client"
    SERVER = "server"


CLIENT = Role.CLIENT
SERVER = Role.SERVER


def address_to_int(address: str) -> int:
    """'a.b.c.d' as the 32-bit number carried in headers."""
    parts = address.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
        raise ValueError(f"{address!r} is not an IPv4 address")
    return int.from_bytes(bytes(int(p) for p in parts), "big")


def int_to_address(number: int) -> str:
    return ".".join(str(b) for b in number.to_bytes(4, "big"))


_set = object.__setattr__
_decode_payload = _dbr.decode_payload
_PAYLOAD_DECODERS = _dbr._PAYLOAD_DECODERS


#: property -> the header slot it reads, for error messages that use the field's meaning.
_FIELD_SLOTS: dict[property, str] = {}


def _field(slot: str, doc: str) -> Any:
    """A read-only property giving a header slot its meaning for one command.

    Typed Any so that each use can say what it reads (``ioid: int = _field(...)``).
    """
    field = property(attrgetter(slot), doc=doc)
    _FIELD_SLOTS[field] = slot
    return field


def _slot_meaning(cls: type, slot: str) -> str:
    """'parameter1 (cid)': a header slot named with what it means for ``cls``."""
    for klass in cls.__mro__:
        for name, value in vars(klass).items():
            if isinstance(value, property) and _FIELD_SLOTS.get(value) == slot:
                return f"{slot} ({name})"
    return slot


def _name_payload(name: str | bytes) -> bytes:
    """A NUL-terminated name padded to 8 bytes, as in SEARCH and CREATE_CHAN."""
    raw = name if isinstance(name, bytes) else name.encode(_dbr.STRING_ENCODING,
                                                          _dbr.STRING_ERRORS)
    return _dbr.pad(raw + b"\0")


_U16, _U32 = 0xFFFF, 0xFFFFFFFF


class Message:
    """Base of all messages: header fields as sent, plus the raw payload."""
    __slots__ = ("data_type", "data_count", "parameter1", "parameter2", "payload",
                 "extended", "_decoded", "_ext_count")
    data_type: int
    data_count: int
    parameter1: int
    parameter2: int
    payload: bytes | memoryview
    extended: bool
    _decoded: tuple[dict[str, Any] | None, Any] | None
    _ext_count: int
    ID: ClassVar[Command]
    ROLE: ClassVar[Role]
    #: Names shown by repr, in order: header fields under their meaning for this command.
    FIELDS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, data_type: int = 0, data_count: int = 0, parameter1: int = 0,
                 parameter2: int = 0, payload: _dbr.Buffer = b""):
        # Checked here, so that a value that does not fit its header field is reported by
        # the code that made it, not as a struct.error when the message is written. Ints
        # in range (nearly all) pass one test: a client makes thousands per second.
        try:
            if type(data_type) is not int:
                data_type = index(data_type)  # an IntEnum, say: kept as a plain int
            if type(data_count) is not int:
                data_count = index(data_count)
            if type(parameter1) is not int:
                parameter1 = index(parameter1)
            if type(parameter2) is not int:
                parameter2 = index(parameter2)
            fits = 0 <= data_type <= _U16 and 0 <= data_count <= _U32 and \
                0 <= parameter1 <= _U32 and 0 <= parameter2 <= _U32
        except TypeError:
            fits = False
        if not fits:
            data_type, data_count, parameter1, parameter2 = self._checked_header(
                data_type, data_count, parameter1, parameter2)
        size = len(payload)
        if size > _U32:
            raise ValueError(f"{type(self).__name__}: payload of {size} bytes is "
                             f"more than a header can announce")
        _set_data_type(self, data_type)
        _set_data_count(self, data_count)
        _set_parameter1(self, parameter1)
        _set_parameter2(self, parameter2)
        _set_payload(self, payload)
        _set_extended(self, size >= EXTENDED_THRESHOLD or data_count >= EXTENDED_THRESHOLD)
        _set_decoded(self, None)

    def detach(self) -> None:
        """Copy a payload that is a view of a larger receive buffer into bytes of its own.

        ``VirtualCircuit.recv`` hands out views (no copy): a message kept for long, such
        as a reply stored as a channel's last result, would otherwise keep alive every
        byte received with it. Large payloads (over DETACH_LIMIT) stay views.
        """
        payload = self.payload
        if type(payload) is memoryview and payload.nbytes <= DETACH_LIMIT:
            _set_payload(self, bytes(self.wire_payload()))
            _set_decoded(self, None)  # a decoded view would keep the buffer too
            if getattr(self, "_in_place", False):
                _set(self, "_in_place", False)

    def wire_payload(self) -> bytes | memoryview:
        """The payload as it goes over the wire: ``payload`` itself, unless this is a
        data message whose numbers were converted in place as it arrived."""
        return self.payload

    def _checked_header(self, *values: Any) -> tuple[int, int, int, int]:
        """The header fields as ints; TypeError or ValueError naming the one that is not
        an integer or does not fit."""
        checked = []
        for slot, value, limit in zip(("data_type", "data_count", "parameter1", "parameter2"),
                                      values, (_U16, _U32, _U32, _U32)):
            try:
                value = index(value)
            except TypeError:
                raise TypeError(f"{type(self).__name__}: {_slot_meaning(type(self), slot)} "
                                f"must be an integer, not {value!r}") from None
            if not 0 <= value <= limit:
                raise ValueError(f"{type(self).__name__}: {_slot_meaning(type(self), slot)} "
                                 f"{value!r} does not fit its header field (0..{limit:#x})")
            checked.append(value)
        data_type, data_count, parameter1, parameter2 = checked
        return data_type, data_count, parameter1, parameter2

    def __setattr__(self, name: str, value: object) -> None:
        # Immutable: the readers and __init__ set the slots with object.__setattr__.
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __reduce__(self) -> tuple[Callable[..., Message], tuple[object, ...]]:
        # copy and pickle would set the slots one by one, which __setattr__ refuses (and a
        # payload may be a memoryview, which does not pickle): rebuild from the bytes.
        return _rebuild, (type(self), self.data_type, self.data_count, self.parameter1,
                          self.parameter2, bytes(self.wire_payload()), self.extended,
                          getattr(self, "_ext_count", 0))

    @property
    def command(self) -> Command:
        return self.ID

    @property
    def payload_size(self) -> int:
        return len(self.payload)

    def header(self) -> bytes:
        """The header bytes, standard or extended as needed (or as received)."""
        if self.extended:
            # The 16-bit count of an extended header is 0, unless a peer sent something
            # else there (readers ignore it; we keep it so that bytes() stays exact).
            count16 = getattr(self, "_ext_count", 0)
            return HEADER.pack(self.ID, 0xFFFF, self.data_type, count16, self.parameter1,
                               self.parameter2) + EXTENDED_SIZES.pack(len(self.payload),
                                                                      self.data_count)
        return HEADER.pack(self.ID, len(self.payload), self.data_type, self.data_count,
                           self.parameter1, self.parameter2)

    def buffers(self) -> tuple[bytes | memoryview, ...]:
        """Header and payload, for writing without joining a large payload first."""
        return (self.header(), self.wire_payload()) if self.payload else (self.header(),)

    def __bytes__(self) -> bytes:
        return self.header() + bytes(self.wire_payload())

    def _key(self) -> tuple[int, int, int, int, bytes]:
        return (self.data_type, self.data_count, self.parameter1, self.parameter2,
                bytes(self.wire_payload()))

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # equal by value, yet not frozen data

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.FIELDS)
        return f"{type(self).__name__}({fields})"


def _rebuild(cls: type[Message], data_type: int, data_count: int, parameter1: int,
             parameter2: int, payload: bytes, extended: bool, ext_count: int) -> Message:
    """A message of ``cls`` with exactly these header fields and payload (for pickle)."""
    message = object.__new__(cls)
    for slot, value in (("data_type", data_type), ("data_count", data_count),
                        ("parameter1", parameter1), ("parameter2", parameter2),
                        ("payload", payload), ("extended", extended), ("_decoded", None)):
        _set(message, slot, value)
    if ext_count:
        _set(message, "_ext_count", ext_count)
    return message


class _DataMessage(Message):
    """A message whose payload is DBR data: metadata structure plus values."""
    __slots__ = ("_in_place",)
    _in_place: bool  # set only for numbers converted in place (see wire_payload)
    FIELDS: ClassVar[tuple[str, ...]] = ("data_type", "data_count")

    def _set_data(self, data: object, data_type: int, data_count: int | None,
                  metadata: dict[str, Any] | None,
                  parameter1: int, parameter2: int) -> None:
        payload, count = _dbr.encode_payload(data_type, data, metadata)
        Message.__init__(self, data_type, count if data_count is None else data_count,
                         parameter1, parameter2, payload)

    def decode(self, use_numpy: bool = True,
               allocate: _dbr.Allocate | None = None) -> tuple[dict[str, Any] | None, Any]:
        """(metadata, values) of the payload; raises ProtocolError if it does not fit.

        The result with numpy (the default) is computed once and kept; ``allocate`` gives
        the array its numbers are converted into (see caproto_core.decode_values).
        """
        decoded = self._decoded
        if decoded is not None and use_numpy:
            return decoded
        try:
            try:
                decoder = _PAYLOAD_DECODERS[self.data_type]
            except KeyError:  # not a DBR type: let decode_payload say so
                decoded = _decode_payload(self.data_type, self.payload, self.data_count,
                                          use_numpy)
            else:
                # Only a message decoded already can have been converted in place.
                payload = self.payload if decoded is None else self.wire_payload()
                decoded = decoder(payload, self.data_count, use_numpy, allocate)
        except ValueError as exc:
            raise RemoteProtocolError(f"{type(self).__name__}: {exc}") from None
        if use_numpy:
            _set(self, "_decoded", decoded)
        return decoded

    def wire_payload(self) -> bytes | memoryview:
        """The payload as it goes over the wire. A large message received by an I/O layer
        that converted its numbers in place as they came (caproto_core.ArrivingValues)
        holds them in this machine's byte order, as its decoded values: the wire bytes are
        rebuilt from those values (a change made to the values shows in them)."""
        if self._decoded is None or not getattr(self, "_in_place", False):
            return self.payload
        values = self._decoded[1]
        start = _dbr.DBR_TYPES[self.data_type].metadata.size
        end = start + values.nbytes
        payload = self.payload
        return b"".join((payload[:start], values.astype(values.dtype.newbyteorder(">")),
                         payload[end:]))

    @property
    def data(self) -> Any:
        """The values: numpy array (or array.array without numpy), or list of str."""
        return (self._decoded or self.decode())[1]

    @property
    def metadata(self) -> dict[str, Any] | None:
        """Status, severity, timestamp, limits, ... as a dict; None for native types."""
        return (self._decoded or self.decode())[0]

    def __repr__(self) -> str:
        text = super().__repr__()[:-1]
        if self.data_count <= 8:
            try:
                text += f", data={self.data!r}"
            except Exception as exc:  # a repr must not fail on a malformed payload
                text += f", data=<undecodable: {exc}>"
        return text + ")"


# --- VERSION ----------------------------------------------------------------------------

class _Version(Message):
    __slots__ = ()
    ID = Command.VERSION
    FIELDS = ("priority", "version", "sequence_id")
    priority: int = _field("data_type", "Circuit priority (on UDP, 1 marks a valid sequence_id)")
    version: int = _field("data_count", "Protocol minor version of the sender")
    sequence_id: int = _field("parameter1", "Search sequence number (UDP only)")

    def __init__(self, priority: int = 0, version: int = PROTOCOL_VERSION,
                 sequence_id: int = 0):
        super().__init__(priority, version, sequence_id, 0)


class VersionRequest(_Version):
    __slots__ = ()
    ROLE = CLIENT


class VersionResponse(_Version):
    __slots__ = ()
    ROLE = SERVER


# --- name resolution ---------------------------------------------------------------------

# The slots' own setters: faster than object.__setattr__ by name, which __setattr__ refuses.
def _slot_setter(slot: str) -> Callable[[Message, Any], None]:
    setter: Callable[[Message, Any], None] = vars(Message)[slot].__set__
    return setter


_set_data_type = _slot_setter("data_type")
_set_data_count = _slot_setter("data_count")
_set_parameter1 = _slot_setter("parameter1")
_set_parameter2 = _slot_setter("parameter2")
_set_payload = _slot_setter("payload")
_set_extended = _slot_setter("extended")
_set_decoded = _slot_setter("_decoded")


class _NameMessage(Message):
    """A message whose payload is a NUL-terminated name padded to 8 bytes."""
    __slots__ = ()

    @property
    def name(self) -> str:
        return _dbr.decode_string(self.payload)


class SearchRequest(_NameMessage):
    __slots__ = ()
    ID, ROLE = Command.SEARCH, CLIENT
    FIELDS = ("name", "cid", "version", "reply")
    reply: int = _field("data_type", "SearchReply.DO_REPLY asks for NOT_FOUND when missing")
    version: int = _field("data_count", "Protocol minor version of the client")
    cid: int = _field("parameter1", "Client's channel id")

    def __init__(self, name: str, cid: int, version: int = PROTOCOL_VERSION,
                 reply: int = SearchReply.DONT_REPLY):
        super().__init__(reply, version, cid, cid, _name_payload(name))


_SEARCH_RESPONSE_PAYLOAD = struct.Struct(">H6x")


class SearchResponse(Message):
    __slots__ = ()
    ID, ROLE = Command.SEARCH, SERVER
    FIELDS = ("port", "ip", "cid", "version")
    port: int = _field("data_type", "TCP port of the server")
    cid: int = _field("parameter2", "Client's channel id, from the request")

    def __init__(self, port: int, ip: str | int, cid: int, version: int = PROTOCOL_VERSION):
        ip = address_to_int(ip) if isinstance(ip, str) else ip
        super().__init__(port, 0, ip, cid, _SEARCH_RESPONSE_PAYLOAD.pack(version))

    @property
    def ip(self) -> str:
        """Server address; '255.255.255.255' means: the sender of this datagram."""
        return int_to_address(self.parameter1)

    @property
    def version(self) -> int:
        return struct.unpack_from(">H", self.payload)[0] if len(self.payload) >= 2 else 0


class NotFoundResponse(Message):
    __slots__ = ()
    ID, ROLE = Command.NOT_FOUND, SERVER
    FIELDS = ("cid", "version", "reply")
    reply: int = _field("data_type", "The reply flag of the request")
    version: int = _field("data_count", "Protocol minor version of the server")
    cid: int = _field("parameter1", "Client's channel id, from the request")

    def __init__(self, cid: int, version: int = PROTOCOL_VERSION,
                 reply: int = SearchReply.DO_REPLY):
        super().__init__(reply, version, cid, cid)


# --- channel life cycle --------------------------------------------------------------------

class CreateChanRequest(_NameMessage):
    __slots__ = ()
    ID, ROLE = Command.CREATE_CHAN, CLIENT
    FIELDS = ("name", "cid", "version")
    cid: int = _field("parameter1", "Client's channel id")
    version: int = _field("parameter2", "Protocol minor version of the client")

    def __init__(self, name: str, cid: int, version: int = PROTOCOL_VERSION):
        super().__init__(0, 0, cid, version, _name_payload(name))


class CreateChanResponse(Message):
    __slots__ = ()
    ID, ROLE = Command.CREATE_CHAN, SERVER
    FIELDS: ClassVar[tuple[str, ...]] = ("data_type", "data_count", "cid", "sid")
    cid: int = _field("parameter1", "Client's channel id")
    sid: int = _field("parameter2", "Server's channel id")

    def __init__(self, data_type: int, data_count: int, cid: int, sid: int):
        super().__init__(data_type, data_count, cid, sid)


#: Every value of AccessRights, made once: building an IntFlag costs microseconds.
_ACCESS_RIGHTS = tuple(AccessRights(bits) for bits in range(AccessRights.READ_WRITE + 1))


class AccessRightsResponse(Message):
    __slots__ = ()
    ID, ROLE = Command.ACCESS_RIGHTS, SERVER
    FIELDS = ("cid", "access_rights")
    cid: int = _field("parameter1", "Client's channel id")

    def __init__(self, cid: int, access_rights: int):
        super().__init__(0, 0, cid, access_rights)

    @property
    def access_rights(self) -> AccessRights:
        return _ACCESS_RIGHTS[self.parameter2 & AccessRights.READ_WRITE]


class CreateChFailResponse(Message):
    __slots__ = ()
    ID, ROLE = Command.CREATE_CH_FAIL, SERVER
    FIELDS = ("cid",)
    cid: int = _field("parameter1", "Client's channel id")

    def __init__(self, cid: int):
        super().__init__(0, 0, cid, 0)


class ServerDisconnResponse(Message):
    __slots__ = ()
    ID, ROLE = Command.SERVER_DISCONN, SERVER
    FIELDS = ("cid",)
    cid: int = _field("parameter1", "Client's channel id")

    def __init__(self, cid: int):
        super().__init__(0, 0, cid, 0)


class _ClearChannel(Message):
    __slots__ = ()
    ID = Command.CLEAR_CHANNEL
    FIELDS = ("sid", "cid")
    sid: int = _field("parameter1", "Server's channel id")
    cid: int = _field("parameter2", "Client's channel id")

    def __init__(self, sid: int, cid: int):
        super().__init__(0, 0, sid, cid)


class ClearChannelRequest(_ClearChannel):
    __slots__ = ()
    ROLE = CLIENT


class ClearChannelResponse(_ClearChannel):
    __slots__ = ()
    ROLE = SERVER


# --- reads and writes -----------------------------------------------------------------------

class ReadNotifyRequest(Message):
    __slots__ = ()
    ID, ROLE = Command.READ_NOTIFY, CLIENT
    FIELDS: ClassVar[tuple[str, ...]] = ("data_type", "data_count", "sid", "ioid")
    sid: int = _field("parameter1", "Server's channel id")
    ioid: int = _field("parameter2", "Client's request id")

    def __init__(self, data_type: int, data_count: int, sid: int, ioid: int):
        super().__init__(data_type, data_count, sid, ioid)


class ReadNotifyResponse(_DataMessage):
    __slots__ = ()
    ID, ROLE = Command.READ_NOTIFY, SERVER
    FIELDS: ClassVar[tuple[str, ...]] = ("data_type", "data_count", "status", "ioid")
    status: int = _field("parameter1", "ECA status code (ECA_NORMAL on success)")
    ioid: int = _field("parameter2", "Client's request id")

    def __init__(self, data: object, data_type: int, ioid: int, status: int = EcaStatus.ECA_NORMAL,
                 data_count: int | None = None, metadata: dict[str, Any] | None = None):
        self._set_data(data, data_type, data_count, metadata, status, ioid)


class _Write(_DataMessage):
    __slots__ = ()
    ROLE = CLIENT
    FIELDS: ClassVar[tuple[str, ...]] = ("data_type", "data_count", "sid", "ioid")
    sid: int = _field("parameter1", "Server's channel id")
    ioid: int = _field("parameter2", "Client's request id")

    def __init__(self, data: object, data_type: int, sid: int, ioid: int,
                 data_count: int | None = None, metadata: dict[str, Any] | None = None):
        self._set_data(data, data_type, data_count, metadata, sid, ioid)


class WriteRequest(_Write):
    """A write without completion notification."""
    __slots__ = ()
    ID = Command.WRITE


class WriteNotifyRequest(_Write):
    """A write whose completion (record processing done) the server reports."""
    __slots__ = ()
    ID = Command.WRITE_NOTIFY


class WriteNotifyResponse(Message):
    __slots__ = ()
    ID, ROLE = Command.WRITE_NOTIFY, SERVER
    FIELDS: ClassVar[tuple[str, ...]] = ("data_type", "data_count", "status", "ioid")
    status: int = _field("parameter1", "ECA status code (ECA_NORMAL on success)")
    ioid: int = _field("parameter2", "Client's request id")

    def __init__(self, data_type: int, data_count: int, ioid: int,
                 status: int = EcaStatus.ECA_NORMAL):
        super().__init__(data_type, data_count, status, ioid)


# --- subscriptions ---------------------------------------------------------------------------

_EVENT_ADD_PAYLOAD = struct.Struct(">fffH2x")
#: Payloads made so far, to share: a client keeps the request of every subscription it
#: has open, and nearly all of them have the same 16 bytes (a 49-byte object each).
_EVENT_ADD_PAYLOADS: dict[bytes, bytes] = {}


class EventAddRequest(Message):
    __slots__ = ()
    ID, ROLE = Command.EVENT_ADD, CLIENT
    FIELDS: ClassVar[tuple[str, ...]] = ("data_type", "data_count", "sid", "subscriptionid", "mask")
    sid: int = _field("parameter1", "Server's channel id")
    subscriptionid: int = _field("parameter2", "Client's subscription id")

    def __init__(self, data_type: int, data_count: int, sid: int, subscriptionid: int,
                 mask: int = SubscriptionType.DBE_VALUE | SubscriptionType.DBE_ALARM,
                 low: float = 0.0, high: float = 0.0, to: float = 0.0):
        payload = _EVENT_ADD_PAYLOAD.pack(low, high, to, mask)
        shared = _EVENT_ADD_PAYLOADS.get(payload)
        if shared is None and len(_EVENT_ADD_PAYLOADS) < 64:
            shared = _EVENT_ADD_PAYLOADS[payload] = payload
        super().__init__(data_type, data_count, sid, subscriptionid, shared or payload)

    def _unpacked(self) -> tuple[float, float, float, int]:
        if len(self.payload) < _EVENT_ADD_PAYLOAD.size:
            return (0.0, 0.0, 0.0, 0)
        return _EVENT_ADD_PAYLOAD.unpack_from(self.payload)

    @property
    def mask(self) -> SubscriptionType:
        return SubscriptionType(self._unpacked()[3] & 0xF)

    @property
    def low(self) -> float:
        return self._unpacked()[0]

    @property
    def high(self) -> float:
        return self._unpacked()[1]

    @property
    def to(self) -> float:
        return self._unpacked()[2]


class EventAddResponse(_DataMessage):
    """A monitor update (an EVENT_ADD from the server with a data payload)."""
    __slots__ = ()
    ID, ROLE = Command.EVENT_ADD, SERVER
    FIELDS: ClassVar[tuple[str, ...]] = ("data_type", "data_count", "status", "subscriptionid")
    status: int = _field("parameter1", "ECA status code (ECA_NORMAL on success)")
    subscriptionid: int = _field("parameter2", "Client's subscription id")

    def __init__(self, data: object, data_type: int, subscriptionid: int,
                 status: int = EcaStatus.ECA_NORMAL, data_count: int | None = None,
                 metadata: dict[str, Any] | None = None):
        self._set_data(data, data_type, data_count, metadata, status, subscriptionid)
        if not self.payload:
            # Without a payload, an EVENT_ADD from a server means "subscription cancelled"
            # (EventCancelResponse): an update with no elements of a type without metadata
            # carries 8 bytes of padding instead, as an update with data would.
            _set(self, "payload", bytes(8))


class EventCancelResponse(Message):
    """The server's acknowledgement of EVENT_CANCEL: an EVENT_ADD with no payload."""
    __slots__ = ()
    ID, ROLE = Command.EVENT_ADD, SERVER
    FIELDS: ClassVar[tuple[str, ...]] = ("data_type", "data_count", "sid", "subscriptionid")
    sid: int = _field("parameter1", "Server's channel id")
    subscriptionid: int = _field("parameter2", "Client's subscription id")

    def __init__(self, data_type: int, data_count: int, sid: int, subscriptionid: int):
        super().__init__(data_type, data_count, sid, subscriptionid)


class EventCancelRequest(Message):
    __slots__ = ()
    ID, ROLE = Command.EVENT_CANCEL, CLIENT
    FIELDS: ClassVar[tuple[str, ...]] = ("data_type", "data_count", "sid", "subscriptionid")
    sid: int = _field("parameter1", "Server's channel id")
    subscriptionid: int = _field("parameter2", "Client's subscription id")

    def __init__(self, data_type: int, data_count: int, sid: int, subscriptionid: int):
        super().__init__(data_type, data_count, sid, subscriptionid)


class _Bare(Message):
    """A message with nothing in it but its command."""
    __slots__ = ()

    def __init__(self) -> None:
        super().__init__()


class EventsOffRequest(_Bare):
    """Asks the server to stop sending monitor updates (flow control)."""
    __slots__ = ()
    ID, ROLE = Command.EVENTS_OFF, CLIENT


class EventsOnRequest(_Bare):
    __slots__ = ()
    ID, ROLE = Command.EVENTS_ON, CLIENT


class ReadSyncRequest(_Bare):
    __slots__ = ()
    ID, ROLE = Command.READ_SYNC, CLIENT


class EchoRequest(_Bare):
    __slots__ = ()
    ID, ROLE = Command.ECHO, CLIENT


class EchoResponse(_Bare):
    __slots__ = ()
    ID, ROLE = Command.ECHO, SERVER


# --- errors ---------------------------------------------------------------------------------

class ErrorResponse(Message):
    """The server's report that a request failed: its header, a status and a text."""
    __slots__ = ()
    ID, ROLE = Command.ERROR, SERVER
    FIELDS = ("original_request", "cid", "status", "error_message")
    cid: int = _field("parameter1", "Client's channel id (or ioid/subscriptionid of the request)")
    status: int = _field("parameter2", "ECA status code")

    def __init__(self, original_request: Message | bytes, cid: int, status: int,
                 error_message: str | None = None):
        header = original_request if isinstance(original_request, bytes) \
            else original_request.header()[:HEADER.size]
        if error_message is None:
            error_message = eca_message(status)
        text = error_message.encode(_dbr.STRING_ENCODING, _dbr.STRING_ERRORS)
        super().__init__(0, 0, cid, status, _dbr.pad(header[:HEADER.size] + text + b"\0"))

    @property
    def original_header(self) -> tuple[int, ...]:
        """(command, payload_size, data_type, data_count, parameter1, parameter2)."""
        if len(self.payload) < HEADER.size:
            return ()
        return HEADER.unpack_from(self.payload)

    @property
    def original_request(self) -> Message | None:
        """The failed request rebuilt from its header (without its payload), if known."""
        header = self.original_header
        cls = REQUESTS.get(header[0]) if header else None
        if cls is None:
            return None
        message = object.__new__(cls)
        for slot, value in zip(("data_type", "data_count", "parameter1", "parameter2"),
                               header[2:]):
            object.__setattr__(message, slot, value)
        object.__setattr__(message, "payload", b"")
        object.__setattr__(message, "extended", False)
        object.__setattr__(message, "_decoded", None)
        return message

    @property
    def error_message(self) -> str:
        return _dbr.decode_string(self.payload[HEADER.size:])


# --- circuit housekeeping ----------------------------------------------------------------------

class _Name(_NameMessage):
    __slots__ = ()
    ROLE = CLIENT
    FIELDS = ("name",)

    def __init__(self, name: str):
        super().__init__(0, 0, 0, 0, _name_payload(name))


class ClientNameRequest(_Name):
    """The user name of the client process (used by the server's access security)."""
    __slots__ = ()
    ID = Command.CLIENT_NAME


class HostNameRequest(_Name):
    """The host name of the client (used by the server's access security)."""
    __slots__ = ()
    ID = Command.HOST_NAME


class RsrvIsUpResponse(Message):
    """A server beacon: 'I am up', sent periodically over UDP."""
    __slots__ = ()
    ID, ROLE = Command.RSRV_IS_UP, SERVER
    FIELDS = ("version", "server_port", "beacon_id", "address")
    version: int = _field("data_type", "Protocol minor version of the server")
    server_port: int = _field("data_count", "TCP port of the server")
    beacon_id: int = _field("parameter1", "Sequence number of this beacon")

    def __init__(self, version: int, server_port: int, beacon_id: int, address: str | int):
        address = address_to_int(address) if isinstance(address, str) else address
        super().__init__(version, server_port, beacon_id, address)

    @property
    def address(self) -> str:
        return int_to_address(self.parameter2)


Beacon = RsrvIsUpResponse


class RepeaterRegisterRequest(Message):
    __slots__ = ()
    ID, ROLE = Command.REPEATER_REGISTER, CLIENT
    FIELDS = ("client_address",)

    def __init__(self, client_address: str | int = "0.0.0.0"):
        address = address_to_int(client_address) if isinstance(client_address, str) \
            else client_address
        super().__init__(0, 0, 0, address)

    @property
    def client_address(self) -> str:
        return int_to_address(self.parameter2)


class RepeaterConfirmResponse(Message):
    __slots__ = ()
    ID, ROLE = Command.REPEATER_CONFIRM, SERVER
    FIELDS = ("repeater_address",)

    def __init__(self, repeater_address: str | int):
        address = address_to_int(repeater_address) if isinstance(repeater_address, str) \
            else repeater_address
        super().__init__(0, 0, 0, address)

    @property
    def repeater_address(self) -> str:
        return int_to_address(self.parameter2)


# --- lookup tables for the readers ---------------------------------------------------------------

def _by_command(*classes: type[Message]) -> dict[int, type[Message]]:
    return {cls.ID: cls for cls in classes}


#: Command id -> class, for messages sent by clients and by servers.
REQUESTS: dict[int, type[Message]] = _by_command(
    VersionRequest, SearchRequest, CreateChanRequest, ClearChannelRequest, ReadNotifyRequest,
    WriteRequest, WriteNotifyRequest, EventAddRequest, EventCancelRequest, EventsOffRequest,
    EventsOnRequest, ReadSyncRequest, EchoRequest, ClientNameRequest, HostNameRequest,
    RepeaterRegisterRequest)
# EVENT_ADD from a server is an EventAddResponse, or EventCancelResponse when it is empty.
RESPONSES: dict[int, type[Message]] = _by_command(
    VersionResponse, SearchResponse, NotFoundResponse, CreateChanResponse, AccessRightsResponse,
    CreateChFailResponse, ServerDisconnResponse, ClearChannelResponse, ReadNotifyResponse,
    WriteNotifyResponse, EventAddResponse, ErrorResponse, EchoResponse, RsrvIsUpResponse,
    RepeaterConfirmResponse)
#: Classes whose payload is DBR data, checked against their type and count when read.
DATA_MESSAGES = (ReadNotifyResponse, WriteRequest, WriteNotifyRequest, EventAddResponse)
