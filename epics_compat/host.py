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
import threading

logger = logging.getLogger("epics_compat.context")

#: Ports for which this process started a repeater (once each).
_repeaters_started: set[int] = set()
#: Starts the repeater in a session of its own and exits at once: the repeater is then
#: nobody's child here (it outlives this process on purpose, for the host's other
#: clients), and no zombie or "child still running" warning is left behind.
_LAUNCHER = ("import subprocess, sys\n"
             "subprocess.Popen([sys.executable, '-m', 'epics_compat.repeater', '--port', "
             "sys.argv[1]], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, "
             "stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)\n")


def start_repeater(port: int) -> None:
    """Start ``python -m epics_compat.repeater`` once per process and port, detached."""
    if port in _repeaters_started or os.environ.get("EPICS_COMPAT_NO_REPEATER"):
        return
    _repeaters_started.add(port)
    # On a thread of its own: the launcher takes a Python start-up (~50 ms), which the
    # caller (an I/O thread or an event loop) must not wait for.
    threading.Thread(target=_launch_repeater, args=(port,), daemon=True,
                     name="epics_compat-repeater-launcher").start()


def _launch_repeater(port: int) -> None:
    try:
        subprocess.run([sys.executable, "-c", _LAUNCHER, str(port)], check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        logger.warning("could not start a CA repeater (beacons will not be seen): %s", exc)


def resolve(host: str) -> str:
    """The IPv4 address of a host name or address; '' (logged) if there is none."""
    try:
        socket.inet_aton(host)
        return host
    except OSError:
        pass
    try:
        return str(socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_DGRAM)[0][4][0])
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
