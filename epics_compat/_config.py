"""Channel Access settings from the standard EPICS environment variables."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from caproto_core import DEFAULT_REPEATER_PORT, DEFAULT_SERVER_PORT

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
    """'host[:port] host[:port] ...' as (host, port) pairs; bad entries are logged."""
    addresses = []
    for entry in text.split():
        host, _, port = entry.partition(":")
        try:
            addresses.append((host, int(port) if port else default_port))
        except ValueError:
            logger.warning("ignoring bad address %r in the CA address list", entry)
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
        """Where searches go: the address list, plus broadcast when automatic."""
        addresses = list(self.addr_list)
        if self.auto_addr_list:
            addresses.append(("255.255.255.255", self.server_port))
        return addresses
