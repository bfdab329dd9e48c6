"""The legal sequences of messages, as tables you can read.

``CHANNEL_TRANSITIONS[role][state][MessageClass]`` is the state a channel moves to when
the circuit of ``role`` sends or receives that message in ``state`` (the class says the
direction: requests travel from clients to servers). ``CIRCUIT_TRANSITIONS`` does the same
for messages that concern the whole circuit. A message missing from the table of the
current state is illegal there.
"""
from __future__ import annotations

import enum

from ._messages import CLIENT, SERVER, AccessRightsResponse, ClearChannelRequest, \
    ClearChannelResponse, ClientNameRequest, CreateChanRequest, CreateChanResponse, \
    CreateChFailResponse, EchoRequest, EchoResponse, ErrorResponse, EventAddRequest, \
    EventAddResponse, EventCancelRequest, EventCancelResponse, EventsOffRequest, \
    EventsOnRequest, HostNameRequest, Message, NotFoundResponse, ReadNotifyRequest, \
    ReadNotifyResponse, ReadSyncRequest, Role, SearchRequest, SearchResponse, \
    ServerDisconnResponse, VersionRequest, VersionResponse, WriteNotifyRequest, \
    WriteNotifyResponse, WriteRequest


class ChannelState(enum.Enum):
    SEND_CREATE_CHAN_REQUEST = "send create request"  # client: not yet asked
    AWAIT_CREATE_CHAN_REQUEST = "await create request"  # server: not yet asked
    AWAIT_CREATE_CHAN_RESPONSE = "await create response"  # client: asked
    SEND_CREATE_CHAN_RESPONSE = "send create response"  # server: asked, not answered
    CONNECTED = "connected"
    CLOSING = "closing"  # clear requested, not yet confirmed
    CLOSED = "closed"
    FAILED = "failed"  # the server refused the channel
    DISCONNECTED = "disconnected"  # the server dropped it, or the circuit closed

    # Members are singletons compared by identity: hash them the same way, in C, instead
    # of Enum's hash of the name in Python (a table lookup per message on the hot path).
    __hash__ = object.__hash__


class CircuitState(enum.Enum):
    SEND_VERSION_REQUEST = "send version request"  # client, before anything else
    AWAIT_VERSION_REQUEST = "await version request"  # server, before anything else
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"

    __hash__ = object.__hash__


S = ChannelState
_REPLIES = (ReadNotifyResponse, WriteNotifyResponse, EventAddResponse, EventCancelResponse,
            ErrorResponse, AccessRightsResponse)
_REQUESTS = (ReadNotifyRequest, WriteRequest, WriteNotifyRequest, EventAddRequest,
             EventCancelRequest)


def _stay(state: ChannelState, *classes: type[Message]) -> dict[type[Message], ChannelState]:
    return {cls: state for cls in classes}


#: state -> {message class -> the state after it}, for each role.
Transitions = dict[Role, dict[ChannelState, dict[type[Message], ChannelState]]]
CHANNEL_TRANSITIONS: Transitions = {
    CLIENT: {
        S.SEND_CREATE_CHAN_REQUEST: {CreateChanRequest: S.AWAIT_CREATE_CHAN_RESPONSE},
        S.AWAIT_CREATE_CHAN_RESPONSE: {
            **_stay(S.AWAIT_CREATE_CHAN_RESPONSE, AccessRightsResponse, ErrorResponse),
            CreateChanResponse: S.CONNECTED,
            CreateChFailResponse: S.FAILED,
            ServerDisconnResponse: S.DISCONNECTED,
        },
        S.CONNECTED: {
            **_stay(S.CONNECTED, *_REQUESTS, *_REPLIES),
            ClearChannelRequest: S.CLOSING,
            ServerDisconnResponse: S.DISCONNECTED,
        },
        S.CLOSING: {
            **_stay(S.CLOSING, *_REPLIES),
            ClearChannelResponse: S.CLOSED,
            ServerDisconnResponse: S.CLOSED,
        },
        S.CLOSED: {},
        S.FAILED: {},
        S.DISCONNECTED: {},
    },
    # The server's table mirrors the client's: whatever a client accepts from a server,
    # a server may send, and the other way round (a test checks this).
    SERVER: {
        S.AWAIT_CREATE_CHAN_REQUEST: {CreateChanRequest: S.SEND_CREATE_CHAN_RESPONSE},
        S.SEND_CREATE_CHAN_RESPONSE: {
            **_stay(S.SEND_CREATE_CHAN_RESPONSE, AccessRightsResponse, ErrorResponse),
            CreateChanResponse: S.CONNECTED,
            CreateChFailResponse: S.FAILED,
            ServerDisconnResponse: S.DISCONNECTED,
        },
        S.CONNECTED: {
            **_stay(S.CONNECTED, *_REQUESTS, *_REPLIES),
            ClearChannelRequest: S.CLOSING,
            ServerDisconnResponse: S.DISCONNECTED,
        },
        # The client asked to clear: answer what is pending, then confirm (or drop it).
        S.CLOSING: {
            **_stay(S.CLOSING, *_REPLIES),
            ClearChannelResponse: S.CLOSED,
            ServerDisconnResponse: S.CLOSED,
        },
        S.CLOSED: {},
        S.FAILED: {},
        S.DISCONNECTED: {},
    },
}

C = CircuitState
# Searches travel over TCP too, to and from name servers (EPICS_CA_NAME_SERVERS).
_HOUSEKEEPING = (EchoRequest, EchoResponse, EventsOffRequest, EventsOnRequest, ReadSyncRequest,
                 ClientNameRequest, HostNameRequest, VersionResponse, ErrorResponse,
                 SearchRequest, SearchResponse, NotFoundResponse)

CIRCUIT_TRANSITIONS: dict[Role, dict[CircuitState, dict[type[Message], CircuitState]]] = {
    CLIENT: {
        # libca sends its names and first channels without waiting for the server's version.
        # A server may send its version as soon as it accepts the connection, which can be
        # read before the client has written anything.
        C.SEND_VERSION_REQUEST: {VersionRequest: C.CONNECTED,
                                 VersionResponse: C.SEND_VERSION_REQUEST},
        C.CONNECTED: {cls: C.CONNECTED for cls in _HOUSEKEEPING},
        C.DISCONNECTED: {},
    },
    SERVER: {
        C.AWAIT_VERSION_REQUEST: {VersionRequest: C.CONNECTED,
                                  VersionResponse: C.AWAIT_VERSION_REQUEST},
        C.CONNECTED: {cls: C.CONNECTED for cls in _HOUSEKEEPING},
        C.DISCONNECTED: {},
    },
}

#: Messages that belong to a channel (checked in CHANNEL_TRANSITIONS); all others belong to
#: the circuit.
CHANNEL_MESSAGES = frozenset(cls for states in CHANNEL_TRANSITIONS.values()
                             for table in states.values() for cls in table) - {ErrorResponse}
