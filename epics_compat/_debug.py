"""``EPICS_COMPAT_DEBUG=1``: log every Channel Access message to stderr, from the first.

The protocol core logs each message it sends and receives at DEBUG, in readable form:
``caproto_core.broadcaster`` the UDP ones (searches, beacons), ``caproto_core.circuit``
the TCP ones, one line each with the peer and the message's fields; ``epics_compat.*``
adds what the client does with them. Setting a level on those loggers is one way to see
the traffic (with a handler of the application's own); the environment variable is the
other, for when the application can't be changed: read once, when epics_compat is
imported, it attaches a stderr handler at DEBUG to ``caproto_core`` and ``epics_compat``.
"""
from __future__ import annotations

import logging
import os
import sys

ENV_VAR = "EPICS_COMPAT_DEBUG"
LOGGERS = ("caproto_core", "epics_compat")
FORMAT = "%(asctime)s.%(msecs)03d %(threadName)s %(name)s %(levelname)s: %(message)s"
_OFF = ("", "0", "no", "n", "false", "off")


def wanted(environ=os.environ) -> bool:
    """Whether EPICS_COMPAT_DEBUG asks for the message log."""
    return environ.get(ENV_VAR, "").strip().lower() not in _OFF


class _DebugHandler(logging.StreamHandler):
    """The handler enable() attaches, recognised so that it is attached once."""


def enable(stream=None) -> logging.Handler:
    """Log every CA message (and the client's own DEBUG records) to ``stream`` (stderr).

    Calling it again adds no second handler. The loggers still propagate, so an
    application's own handlers see the records too.
    """
    for name in LOGGERS:
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, _DebugHandler):
                return handler
    handler = _DebugHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT, "%H:%M:%S"))
    handler.setLevel(logging.DEBUG)
    for name in LOGGERS:
        log = logging.getLogger(name)
        log.setLevel(logging.DEBUG)
        log.addHandler(handler)
    return handler


def from_environment() -> None:
    """Apply EPICS_COMPAT_DEBUG (done once, when epics_compat is imported)."""
    if wanted():
        enable()
