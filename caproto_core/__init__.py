"""caproto_core: Channel Access protocol version 13 without I/O.

Bytes in, messages out, and back: every message class, every DBR type, and the state of
channels and circuits for both roles. Nothing here opens a socket, starts a thread or
sleeps; ``epics_compat`` does that on top.
"""
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
from ._readers import message_size, read_datagram, read_stream
from ._state import CHANNEL_TRANSITIONS, CIRCUIT_TRANSITIONS, ChannelState, CircuitState
