"""What a client needs from the host it runs on: names resolved, its own host and user
name for the server, and a CA repeater to hear beacons through. Shared by the threaded
and the asyncio transports."""
from __future__ import annotations

import getpass
import logging
import os
import socket
import subprocess
import sys

logger = logging.getLogger("epics_compat.context")

#: The repeaters this process started, by port. They are left running on purpose (other
#: clients of the host use them too); keeping their Popen objects says so to Python,
#: which otherwise warns that a child it forgot is still running.
_repeaters_started: dict[int, subprocess.Popen | None] = {}


def start_repeater(port: int) -> None:
    """Start ``python -m epics_compat.repeater`` once per process and port, detached."""
    if port in _repeaters_started or os.environ.get("EPICS_COMPAT_NO_REPEATER"):
        return
    _repeaters_started[port] = None
    try:
        _repeaters_started[port] = subprocess.Popen(
            [sys.executable, "-m", "epics_compat.repeater", "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True)
    except OSError as exc:
        logger.warning("could not start a CA repeater (beacons will not be seen): %s", exc)


def resolve(host: str) -> str:
    """The IPv4 address of a host name or address; '' (logged) if there is none."""
    try:
        socket.inet_aton(host)
        return host
    except OSError:
        pass
    try:
        return socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_DGRAM)[0][4][0]
    except (OSError, IndexError) as exc:
        logger.warning("cannot resolve %r in the CA address list (no searches go "
                       "there): %s", host, exc)
        return ""


def host_name() -> str:
    return socket.gethostname()[:60] or "localhost"


def user_name() -> str:
    try:
        return getpass.getuser()[:60]
    except Exception:  # no user database entry (containers)
        return "unknown"
