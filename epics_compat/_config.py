"""Channel Access settings from the standard EPICS environment variables."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from caproto_core import DEFAULT_REPEATER_PORT, DEFAULT_SERVER_PORT

from . import _netif

logger = logging.getLogger("epics_compat.config")

#: pyepics raises libca's default array limit to this when the variable is unset.
DEFAULT_MAX_ARRAY_BYTES = 2 ** 24


def _float(env, name: str, default: float, minimum: float = 0.0) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        logger.warning("%s=%r is not a number; using %s", name, text, default)
        return default
    return max(value, minimum)


def _int(env, name: str, default: int) -> int:
    return int(_float(env, name, default))


def _yes(env, name: str, default: bool) -> bool:
    text = env.get(name, "").strip().upper()
    if not text:
        return default
    return text not in ("NO", "N", "FALSE", "0")


def parse_addresses(text: str, default_port: int) -> list[tuple[str, int]]:
    """'host[:port] host[:port] ...' as (host, port) pairs; bad entries are logged.

    A host is a name, an address or a broadcast address; host names are resolved later,
    once, by the context."""
    addresses = []
    for entry in text.split():
        host, _, port = entry.partition(":")
        try:
            number = int(port) if port else default_port
        except ValueError:
            number = -1
        if not host or not 0 < number < 65536:
            logger.warning("ignoring bad address %r in the CA address list", entry)
            continue
        addresses.append((host, number))
    return addresses


@dataclass
class Config:
    """What a client context needs to know, read once when the context is created."""
    server_port: int = DEFAULT_SERVER_PORT
    repeater_port: int = DEFAULT_REPEATER_PORT
    addr_list: list = field(default_factory=list)
    auto_addr_list: bool = True
    name_servers: list = field(default_factory=list)
    connection_timeout: float = 30.0  # EPICS_CA_CONN_TMO: silence before an echo
    beacon_period: float = 15.0
    max_array_bytes: int = DEFAULT_MAX_ARRAY_BYTES
    max_search_period: float = 300.0
    #: The automatic destinations, found when first needed (see search_addresses).
    _auto_addresses: list | None = field(default=None, init=False, repr=False,
                                         compare=False)

    @classmethod
    def from_environment(cls, env=None) -> Config:
        env = os.environ if env is None else env
        server_port = _int(env, "EPICS_CA_SERVER_PORT", DEFAULT_SERVER_PORT)
        return cls(
            server_port=server_port,
            repeater_port=_int(env, "EPICS_CA_REPEATER_PORT", DEFAULT_REPEATER_PORT),
            addr_list=parse_addresses(env.get("EPICS_CA_ADDR_LIST", ""), server_port),
            auto_addr_list=_yes(env, "EPICS_CA_AUTO_ADDR_LIST", True),
            name_servers=parse_addresses(env.get("EPICS_CA_NAME_SERVERS", ""), server_port),
            connection_timeout=_float(env, "EPICS_CA_CONN_TMO", 30.0, 0.1),
            beacon_period=_float(env, "EPICS_CA_BEACON_PERIOD", 15.0, 0.1),
            max_array_bytes=_int(env, "EPICS_CA_MAX_ARRAY_BYTES", DEFAULT_MAX_ARRAY_BYTES),
            max_search_period=_float(env, "EPICS_CA_MAX_SEARCH_PERIOD", 300.0, 60.0),
        )

    def search_addresses(self) -> list[tuple[str, int]]:
        """Where searches go, in libca's order: with EPICS_CA_AUTO_ADDR_LIST, the
        broadcast address of every network the host is on (see
        ``_netif.auto_search_addresses``) on the server port, then EPICS_CA_ADDR_LIST;
        each (host, port) once. Like libca, the interfaces are read once (when first
        asked: the context does at its start), so a network that comes up later is not
        searched."""
        addresses: list[tuple[str, int]] = []
        if self.auto_addr_list:
            if self._auto_addresses is None:
                self._auto_addresses = _netif.auto_search_addresses(_netif.interfaces())
            addresses = [(ip, self.server_port) for ip in self._auto_addresses]
        for address in self.addr_list:
            if address not in addresses:
                addresses.append(address)
        return addresses
