"""The constants aioca takes from ``epicscorelibs.ca.cadef`` (event masks, channel
states, ECA codes and their messages), without libca.

Importable as ``epicscorelibs.ca.cadef`` after ``install_as_aioca()``.
"""
from __future__ import annotations

import caproto_core as core

DBE_VALUE, DBE_LOG, DBE_ALARM, DBE_PROPERTY = 1, 2, 4, 8
CA_OP_CONN_UP, CA_OP_CONN_DOWN = 6, 7
cs_never_conn, cs_prev_conn, cs_conn, cs_closed = 0, 1, 2, 3

ECA_NORMAL = int(core.EcaStatus.ECA_NORMAL)
ECA_TIMEOUT = int(core.EcaStatus.ECA_TIMEOUT)
ECA_DISCONN = int(core.EcaStatus.ECA_DISCONN)
ECA_PUTFAIL = int(core.EcaStatus.ECA_PUTFAIL)
ECA_GETFAIL = int(core.EcaStatus.ECA_GETFAIL)
ECA_BADTYPE = int(core.EcaStatus.ECA_BADTYPE)
ECA_BADSTR = int(core.EcaStatus.ECA_BADSTR)
ECA_NORDACCESS = int(core.EcaStatus.ECA_NORDACCESS)
ECA_NOWTACCESS = int(core.EcaStatus.ECA_NOWTACCESS)


def ca_message(status: int) -> str:
    """libca's text for an ECA status code."""
    return core.eca_message(status)


class CAException(Exception):
    """A Channel Access call refused at once: ``status`` is its ECA code, ``function``
    the libca call that libca would have refused (named in the message, as aioca's)."""

    def __init__(self, status: int, function: str):
        super().__init__(status, function)
        self.status = status
        self.function = function

    def __str__(self) -> str:
        return f"{ca_message(self.status)} calling {self.function}"


class Disconnected(Exception):
    """The channel was disconnected while it was used."""
