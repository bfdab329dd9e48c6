"""The one exception family the core raises for bad bytes or illegal protocol use."""
from __future__ import annotations


class CaprotoCoreError(Exception):
    """Base of every error raised by caproto_core."""


class ProtocolError(CaprotoCoreError):
    """Bytes that are not valid Channel Access, or a message that is illegal now.

    The text names the command, where in the buffer or for which channel, and what was
    expected, so that a log line is enough to see what the peer did wrong.
    """


class LocalProtocolError(ProtocolError):
    """Our own side tried to send something the protocol does not allow in this state."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something malformed or not allowed in this state."""
