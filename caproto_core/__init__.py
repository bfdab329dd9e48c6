"""caproto_core: Channel Access protocol version 13 without I/O.

Bytes in, messages out, and back: every message class, every DBR type, and the state of
channels and circuits for both roles. Nothing here opens a socket, starts a thread or
sleeps; ``epics_compat`` does that on top.
"""
from ._arriving import ArrivingValues, arriving_values
from ._broadcaster import DATAGRAM_MESSAGES, MAX_DATAGRAM_SIZE, Broadcaster
from ._circuit import Channel, VirtualCircuit
from ._constants import (ADDRESS_OF_SENDER, DEFAULT_MAX_PAYLOAD_SIZE, DEFAULT_REPEATER_PORT,
                         DEFAULT_SERVER_PORT, ECA_MESSAGES, EPICS_EPOCH_OFFSET,
                         MAX_ENUM_STATES, MAX_ENUM_STRING_SIZE, MAX_NAME_LENGTH,
                         MAX_STRING_SIZE, MAX_UNITS_SIZE, PROTOCOL_VERSION, AccessRights,
                         AlarmSeverity, AlarmStatus, Command, EcaSeverity, EcaStatus, Priority,
                         SearchReply, SubscriptionType, eca_message, eca_succeeded)
from ._dbr import (DBR_TYPES, FAMILIES, NATIVE_TYPES, ChannelType, DbrType, dbr_type,
                   decode_payload, decode_string, decode_values, element_size, encode_payload,
                   encode_string, encode_values, epics_timestamp, native_type, payload_size,
                   promote)
from ._errors import CaprotoCoreError, LocalProtocolError, ProtocolError, RemoteProtocolError
from ._messages import (CLIENT, DATA_MESSAGES, REQUESTS, RESPONSES, SERVER,
                        AccessRightsResponse, Beacon, ClearChannelRequest, ClearChannelResponse,
                        ClientNameRequest, CreateChanRequest, CreateChanResponse,
                        CreateChFailResponse, EchoRequest, EchoResponse, ErrorResponse,
                        EventAddRequest, EventAddResponse, EventCancelRequest,
                        EventCancelResponse, EventsOffRequest, EventsOnRequest,
                        HostNameRequest, Message, NotFoundResponse, ReadNotifyRequest,
                        ReadNotifyResponse, ReadSyncRequest, RepeaterConfirmResponse,
                        RepeaterRegisterRequest, Role, RsrvIsUpResponse, SearchRequest,
                        SearchResponse, ServerDisconnResponse, VersionRequest,
                        VersionResponse, WriteNotifyRequest, WriteNotifyResponse, WriteRequest,
                        address_to_int, int_to_address)
from ._readers import Header, message_size, peek_header, read_datagram, read_stream
from ._state import CHANNEL_TRANSITIONS, CIRCUIT_TRANSITIONS, ChannelState, CircuitState

# The public names: what `from caproto_core import *` and type checkers see as exported.
__all__ = [
    "AccessRights", "AccessRightsResponse", "ADDRESS_OF_SENDER", "address_to_int", "AlarmSeverity",
    "AlarmStatus", "ArrivingValues", "arriving_values", "Beacon", "Broadcaster",
    "CaprotoCoreError", "Channel", "CHANNEL_TRANSITIONS", "ChannelState", "ChannelType",
    "CIRCUIT_TRANSITIONS", "CircuitState", "ClearChannelRequest", "ClearChannelResponse", "CLIENT",
    "ClientNameRequest", "Command", "CreateChanRequest", "CreateChanResponse",
    "CreateChFailResponse", "DATA_MESSAGES", "DATAGRAM_MESSAGES", "dbr_type", "DBR_TYPES",
    "DbrType", "decode_payload", "decode_string", "decode_values", "DEFAULT_MAX_PAYLOAD_SIZE",
    "DEFAULT_REPEATER_PORT", "DEFAULT_SERVER_PORT", "eca_message", "ECA_MESSAGES", "eca_succeeded",
    "EcaSeverity", "EcaStatus", "EchoRequest", "EchoResponse", "element_size", "encode_payload",
    "encode_string", "encode_values", "EPICS_EPOCH_OFFSET", "epics_timestamp", "ErrorResponse",
    "EventAddRequest", "EventAddResponse", "EventCancelRequest", "EventCancelResponse",
    "EventsOffRequest", "EventsOnRequest", "FAMILIES", "Header", "HostNameRequest",
    "int_to_address", "LocalProtocolError", "MAX_DATAGRAM_SIZE", "MAX_ENUM_STATES",
    "MAX_ENUM_STRING_SIZE", "MAX_NAME_LENGTH", "MAX_STRING_SIZE", "MAX_UNITS_SIZE", "Message",
    "message_size", "native_type", "NATIVE_TYPES", "NotFoundResponse", "payload_size",
    "peek_header", "Priority", "promote", "PROTOCOL_VERSION", "ProtocolError", "read_datagram",
    "read_stream", "ReadNotifyRequest", "ReadNotifyResponse", "ReadSyncRequest",
    "RemoteProtocolError", "RepeaterConfirmResponse", "RepeaterRegisterRequest", "REQUESTS",
    "RESPONSES", "Role", "RsrvIsUpResponse", "SearchReply", "SearchRequest", "SearchResponse",
    "SERVER", "ServerDisconnResponse", "SubscriptionType", "VersionRequest", "VersionResponse",
    "VirtualCircuit", "WriteNotifyRequest", "WriteNotifyResponse", "WriteRequest"
]
