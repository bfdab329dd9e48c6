"""``Broadcaster``: the UDP side of Channel Access (searches, beacons, repeater); no I/O."""
from __future__ import annotations

import logging

from ._errors import LocalProtocolError
from ._messages import CLIENT, SERVER, Message, NotFoundResponse, RepeaterConfirmResponse, \
    RepeaterRegisterRequest, Role, RsrvIsUpResponse, SearchRequest, SearchResponse, \
    VersionRequest, VersionResponse
from ._dbr import Buffer
from ._readers import read_datagram

logger = logging.getLogger("caproto_core.broadcaster")

#: What each role may put in a datagram.
DATAGRAM_MESSAGES = {
    CLIENT: (VersionRequest, SearchRequest, RepeaterRegisterRequest),
    SERVER: (VersionResponse, SearchResponse, NotFoundResponse, RsrvIsUpResponse,
             RepeaterConfirmResponse),
}
#: Largest datagram a search batch should fill (what fits an Ethernet frame unfragmented).
MAX_DATAGRAM_SIZE = 1450
#: The data_type of a VersionRequest over UDP saying "my sequence_id is meaningful".
SEQUENCE_ID_VALID = 1


class Broadcaster:
    """Checks and serialises datagrams for ``our_role`` and parses the peer's."""

    def __init__(self, our_role: Role):
        if our_role not in (CLIENT, SERVER):
            raise TypeError(f"our_role must be CLIENT or SERVER, not {our_role!r}")
        self.our_role = our_role
        self.their_role = SERVER if our_role is CLIENT else CLIENT

    def send(self, *messages: Message) -> bytes:
        """One datagram holding ``messages``."""
        allowed = DATAGRAM_MESSAGES[self.our_role]
        for message in messages:
            if not isinstance(message, allowed):
                raise LocalProtocolError(f"a {self.our_role.value} does not send "
                                         f"{type(message).__name__} over UDP")
        if logger.isEnabledFor(logging.DEBUG):
            for message in messages:
                logger.debug("udp >> %r", message)
        return b"".join(bytes(message) for message in messages)

    def recv(self, data: Buffer, address: tuple[str, int] | None = None) -> list[Message]:
        """The messages of one datagram from the other role (ProtocolError if malformed)."""
        messages = read_datagram(data, self.their_role)
        if logger.isEnabledFor(logging.DEBUG):
            for message in messages:
                logger.debug("%s << %r", _peer(address), message)
        return messages

    def search_datagrams(self, requests: list[SearchRequest], sequence_id: int = 0,
                         max_size: int = MAX_DATAGRAM_SIZE) -> list[bytes]:
        """Searches batched into as few datagrams as fit, each led by a VersionRequest.

        As libca does, the VersionRequest carries ``sequence_id`` and marks it valid
        (data_type 1), so that servers echo it in their VersionResponse. A datagram is at
        most ``max_size`` bytes, unless a single search is larger on its own.
        """
        version = VersionRequest(priority=SEQUENCE_ID_VALID, sequence_id=sequence_id)
        empty = len(bytes(version))
        datagrams: list[bytes] = []
        batch: list[Message] = []
        size = empty
        for request in requests:
            length = len(request.header()) + request.payload_size
            if batch and size + length > max_size:
                datagrams.append(self.send(version, *batch))
                batch, size = [], empty
            batch.append(request)
            size += length
        if batch:
            datagrams.append(self.send(version, *batch))
        return datagrams


def _peer(address: object) -> str:
    """'host:port' of an address tuple, as the circuit logs its peer ('udp' if unknown)."""
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return "udp" if address is None else str(address)
