"""The host's IPv4 network interfaces, and the broadcast addresses CA sends to by default.

libca sends each search to the broadcast address of every IPv4 interface that is up and
not loopback (a point-to-point link: to its peer), so that servers on every network the
host is on are found; rsrv sends its beacons the same way. A limited broadcast
(255.255.255.255) would leave through one interface only.

On Linux the interfaces are read with the standard library alone: ``socket.if_nameindex``
for the names and the ``SIOCGIF*`` ioctls for each one's flags and addresses. These give
an interface's primary IPv4 address only: a further address on the same interface, in
another subnet, is not seen (EPICS 7's libca, through getifaddrs, sees it). Elsewhere
(macOS, BSD, Windows) the standard library has no portable way to list them, so
:func:`interfaces` returns None and the callers fall back to the limited broadcast,
which reaches the network of the default route only.
"""
from __future__ import annotations

import logging
import socket
import struct
import sys
from dataclasses import dataclass

logger = logging.getLogger("epics_compat.netif")

# Interface flags (<net/if.h>; the same values on Linux and the BSDs).
IFF_UP = 0x1
IFF_BROADCAST = 0x2
IFF_LOOPBACK = 0x8
IFF_POINTOPOINT = 0x10

# Linux ioctl numbers (<linux/sockios.h>).
_SIOCGIFFLAGS = 0x8913
_SIOCGIFADDR = 0x8915
_SIOCGIFDSTADDR = 0x8917
_SIOCGIFBRDADDR = 0x8919
_SIOCGIFNETMASK = 0x891B
#: struct ifreq: a 16-byte name, then a union whose largest member takes 24 bytes.
_IFREQ_SIZE = 40
_NAME_SIZE = 16

LIMITED_BROADCAST = "255.255.255.255"
LOOPBACK = "127.0.0.1"
ANY = "0.0.0.0"


@dataclass(frozen=True)
class Interface:
    """One IPv4 interface: its name, flags (``IFF_*``) and addresses."""
    name: str
    flags: int
    address: str
    netmask: str
    broadcast: str | None = None  # when IFF_BROADCAST
    peer: str | None = None  # the other end of a point-to-point link

    @property
    def up(self) -> bool:
        return bool(self.flags & IFF_UP)

    @property
    def loopback(self) -> bool:
        return bool(self.flags & IFF_LOOPBACK)


def interfaces() -> list[Interface] | None:
    """The host's IPv4 interfaces (those with an address), or None where they cannot be
    listed (not Linux, or the kernel refused: then the callers use the limited
    broadcast, as before)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        names = [name for _, name in socket.if_nameindex()]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            return [found for found in (_linux_interface(sock, name) for name in names)
                    if found is not None]
    except OSError as exc:
        logger.warning("cannot list the network interfaces (%s); searches and beacons "
                       "go to %s only", exc, LIMITED_BROADCAST)
        return None


def _linux_interface(sock: socket.socket, name: str) -> Interface | None:
    import fcntl  # POSIX only: imported here so that the module loads everywhere

    def ask(request: int) -> bytes:
        ifreq = name.encode()[:_NAME_SIZE - 1].ljust(_IFREQ_SIZE, b"\0")
        return fcntl.ioctl(sock.fileno(), request, ifreq)

    def address(request: int) -> str:
        # sockaddr_in after the name: family (2), port (2), then the IPv4 address (4).
        return socket.inet_ntoa(ask(request)[_NAME_SIZE + 4:_NAME_SIZE + 8])

    try:
        own = address(_SIOCGIFADDR)
    except OSError:
        return None  # no IPv4 address (IPv6 only, or not configured)
    flags = struct.unpack_from("H", ask(_SIOCGIFFLAGS), _NAME_SIZE)[0]
    broadcast = address(_SIOCGIFBRDADDR) if flags & IFF_BROADCAST else None
    peer = address(_SIOCGIFDSTADDR) if flags & IFF_POINTOPOINT else None
    return Interface(name, flags, own, address(_SIOCGIFNETMASK), broadcast, peer)


def broadcast_addresses(found: list[Interface], match: str = ANY) -> list[str]:
    """Where CA broadcasts go through ``found``, as libca's
    osiSockDiscoverBroadcastAddresses picks them: for every interface that is up and not
    loopback, its broadcast address (or, on a point-to-point link, the peer's address).
    ``match``, an interface address, keeps that interface only; 127.0.0.1 gives itself.
    Each address once, in interface order."""
    if match == LOOPBACK:
        return [LOOPBACK]
    addresses: list[str] = []
    for interface in found:
        if not interface.up or interface.loopback:
            continue
        if match != ANY and interface.address != match:
            continue
        address = interface.broadcast or interface.peer
        if address and address != ANY and address not in addresses:
            addresses.append(address)
    return addresses


def auto_search_addresses(found: list[Interface] | None) -> list[str]:
    """The automatic search destinations (EPICS_CA_AUTO_ADDR_LIST=YES), as libca's:
    :func:`broadcast_addresses`, or 127.0.0.1 on a host with no other network; the
    limited broadcast where the interfaces are unknown (``found`` is None)."""
    if found is None:
        return [LIMITED_BROADCAST]
    return broadcast_addresses(found) or [LOOPBACK]

