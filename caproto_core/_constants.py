"""Numbers of Channel Access protocol version 13: commands, ports, flags, status codes.

Everything here is a fact of the protocol, taken from its specification; nothing here
depends on how the protocol is carried.
"""
from __future__ import annotations

import enum

#: The protocol minor version this implementation speaks (major version 4).
PROTOCOL_VERSION = 13
DEFAULT_SERVER_PORT = 5064
DEFAULT_REPEATER_PORT = 5065
#: Longest record/field name the servers accept, without the terminating NUL.
MAX_NAME_LENGTH = 60
#: A DBR_STRING element: 39 characters and a terminating NUL.
MAX_STRING_SIZE = 40
MAX_UNITS_SIZE = 8
MAX_ENUM_STRING_SIZE = 26
MAX_ENUM_STATES = 16
#: Seconds between the POSIX epoch (1970) and the EPICS epoch (1990).
EPICS_EPOCH_OFFSET = 631152000
#: Default limit of one message's payload (EPICS_CA_MAX_ARRAY_BYTES of EPICS base).
DEFAULT_MAX_PAYLOAD_SIZE = 16384
#: The address in a search response meaning "the address this datagram came from".
ADDRESS_OF_SENDER = 0xFFFFFFFF


class Command(enum.IntEnum):
    VERSION = 0
    EVENT_ADD = 1
    EVENT_CANCEL = 2
    READ = 3  # obsolete
    WRITE = 4
    SNAPSHOT = 5  # obsolete
    SEARCH = 6
    BUILD = 7  # obsolete
    EVENTS_OFF = 8
    EVENTS_ON = 9
    READ_SYNC = 10
    ERROR = 11
    CLEAR_CHANNEL = 12
    RSRV_IS_UP = 13
    NOT_FOUND = 14
    READ_NOTIFY = 15
    READ_BUILD = 16  # obsolete
    REPEATER_CONFIRM = 17
    CREATE_CHAN = 18
    WRITE_NOTIFY = 19
    CLIENT_NAME = 20
    HOST_NAME = 21
    ACCESS_RIGHTS = 22
    ECHO = 23
    REPEATER_REGISTER = 24
    SIGNAL = 25  # obsolete
    CREATE_CH_FAIL = 26
    SERVER_DISCONN = 27


class SearchReply(enum.IntEnum):
    """The data_type field of a search request: should a server answer 'not found'?"""
    DO_REPLY = 10
    DONT_REPLY = 5


class Priority(enum.IntEnum):
    MIN = 0
    DEFAULT = 0
    MAX = 99


class AccessRights(enum.IntFlag):
    NO_ACCESS = 0
    READ = 1
    WRITE = 2
    READ_WRITE = 3


class SubscriptionType(enum.IntFlag):
    """The event mask of a subscription: which changes the server reports."""
    DBE_VALUE = 1
    DBE_LOG = 2  # also called DBE_ARCHIVE
    DBE_ALARM = 4
    DBE_PROPERTY = 8


class AlarmSeverity(enum.IntEnum):
    NO_ALARM = 0
    MINOR_ALARM = 1
    MAJOR_ALARM = 2
    INVALID_ALARM = 3


class AlarmStatus(enum.IntEnum):
    NO_ALARM = 0
    READ = 1
    WRITE = 2
    HIHI = 3
    HIGH = 4
    LOLO = 5
    LOW = 6
    STATE = 7
    COS = 8
    COMM = 9
    TIMEOUT = 10
    HWLIMIT = 11
    CALC = 12
    SCAN = 13
    LINK = 14
    SOFT = 15
    BAD_SUB = 16
    UDF = 17
    DISABLE = 18
    SIMM = 19
    READ_ACCESS = 20
    WRITE_ACCESS = 21


class EcaSeverity(enum.IntEnum):
    WARNING = 0
    SUCCESS = 1
    ERROR = 2
    INFO = 3
    SEVERE = 4
    FATAL = 6


def _eca(number: int, severity: EcaSeverity) -> int:
    # An ECA status code packs the message number above the severity bits.
    return (number << 3) | severity


class EcaStatus(enum.IntEnum):
    """Status codes carried in responses and ERROR messages (``ECA_*`` in EPICS base)."""
    ECA_NORMAL = _eca(0, EcaSeverity.SUCCESS)
    ECA_MAXIOC = _eca(1, EcaSeverity.ERROR)
    ECA_UKNHOST = _eca(2, EcaSeverity.ERROR)
    ECA_UKNSERV = _eca(3, EcaSeverity.ERROR)
    ECA_SOCK = _eca(4, EcaSeverity.ERROR)
    ECA_CONN = _eca(5, EcaSeverity.WARNING)
    ECA_ALLOCMEM = _eca(6, EcaSeverity.WARNING)
    ECA_UKNCHAN = _eca(7, EcaSeverity.WARNING)
    ECA_UKNFIELD = _eca(8, EcaSeverity.WARNING)
    ECA_TOLARGE = _eca(9, EcaSeverity.WARNING)
    ECA_TIMEOUT = _eca(10, EcaSeverity.WARNING)
    ECA_NOSUPPORT = _eca(11, EcaSeverity.WARNING)
    ECA_STRTOBIG = _eca(12, EcaSeverity.WARNING)
    ECA_DISCONNCHID = _eca(13, EcaSeverity.ERROR)
    ECA_BADTYPE = _eca(14, EcaSeverity.ERROR)
    ECA_CHIDNOTFND = _eca(15, EcaSeverity.INFO)
    ECA_CHIDRETRY = _eca(16, EcaSeverity.INFO)
    ECA_INTERNAL = _eca(17, EcaSeverity.FATAL)
    ECA_DBLCLFAIL = _eca(18, EcaSeverity.WARNING)
    ECA_GETFAIL = _eca(19, EcaSeverity.WARNING)
    ECA_PUTFAIL = _eca(20, EcaSeverity.WARNING)
    ECA_ADDFAIL = _eca(21, EcaSeverity.WARNING)
    ECA_BADCOUNT = _eca(22, EcaSeverity.WARNING)
    ECA_BADSTR = _eca(23, EcaSeverity.ERROR)
    ECA_DISCONN = _eca(24, EcaSeverity.WARNING)
    ECA_DBLCHNL = _eca(25, EcaSeverity.WARNING)
    ECA_EVDISALLOW = _eca(26, EcaSeverity.ERROR)
    ECA_BUILDGET = _eca(27, EcaSeverity.WARNING)
    ECA_NEEDSFP = _eca(28, EcaSeverity.WARNING)
    ECA_OVEVFAIL = _eca(29, EcaSeverity.WARNING)
    ECA_BADMONID = _eca(30, EcaSeverity.ERROR)
    ECA_NEWADDR = _eca(31, EcaSeverity.WARNING)
    ECA_NEWCONN = _eca(32, EcaSeverity.INFO)
    ECA_NOCACTX = _eca(33, EcaSeverity.WARNING)
    ECA_DEFUNCT = _eca(34, EcaSeverity.FATAL)
    ECA_EMPTYSTR = _eca(35, EcaSeverity.WARNING)
    ECA_NOREPEATER = _eca(36, EcaSeverity.WARNING)
    ECA_NOCHANMSG = _eca(37, EcaSeverity.WARNING)
    ECA_DLCKREST = _eca(38, EcaSeverity.WARNING)
    ECA_SERVBEHIND = _eca(39, EcaSeverity.WARNING)
    ECA_NOCAST = _eca(40, EcaSeverity.WARNING)
    ECA_BADMASK = _eca(41, EcaSeverity.ERROR)
    ECA_IODONE = _eca(42, EcaSeverity.INFO)
    ECA_IOINPROGRESS = _eca(43, EcaSeverity.INFO)
    ECA_BADSYNCGRP = _eca(44, EcaSeverity.ERROR)
    ECA_PUTCBINPROG = _eca(45, EcaSeverity.ERROR)
    ECA_NORDACCESS = _eca(46, EcaSeverity.WARNING)
    ECA_NOWTACCESS = _eca(47, EcaSeverity.WARNING)
    ECA_ANACHRONISM = _eca(48, EcaSeverity.ERROR)
    ECA_NOSEARCHADDR = _eca(49, EcaSeverity.WARNING)
    ECA_NOCONVERT = _eca(50, EcaSeverity.WARNING)
    ECA_BADCHID = _eca(51, EcaSeverity.ERROR)
    ECA_BADFUNCPTR = _eca(52, EcaSeverity.ERROR)
    ECA_ISATTACHED = _eca(53, EcaSeverity.WARNING)
    ECA_UNAVAILINSERV = _eca(54, EcaSeverity.WARNING)
    ECA_CHANDESTROY = _eca(55, EcaSeverity.WARNING)
    ECA_BADPRIORITY = _eca(56, EcaSeverity.ERROR)
    ECA_NOTTHREADED = _eca(57, EcaSeverity.ERROR)
    ECA_16KARRAYCLIENT = _eca(58, EcaSeverity.WARNING)
    ECA_CONNSEQTMO = _eca(59, EcaSeverity.WARNING)
    ECA_UNRESPTMO = _eca(60, EcaSeverity.WARNING)


ECA_MESSAGES = {
    EcaStatus.ECA_NORMAL: "Normal successful completion",
    EcaStatus.ECA_MAXIOC: "Maximum simultaneous IOC connections exceeded",
    EcaStatus.ECA_UKNHOST: "Unknown internet host",
    EcaStatus.ECA_UKNSERV: "Unknown internet service",
    EcaStatus.ECA_SOCK: "Unable to allocate a new socket",
    EcaStatus.ECA_CONN: "Unable to connect to internet host or service",
    EcaStatus.ECA_ALLOCMEM: "Unable to allocate additional dynamic memory",
    EcaStatus.ECA_UKNCHAN: "Unknown IO channel",
    EcaStatus.ECA_UKNFIELD: "Record field specified inappropriate for channel specified",
    EcaStatus.ECA_TOLARGE: "The requested data transfer is greater than available memory "
                           "or EPICS_CA_MAX_ARRAY_BYTES",
    EcaStatus.ECA_TIMEOUT: "User specified timeout on IO operation expired",
    EcaStatus.ECA_NOSUPPORT: "Sorry, that feature is planned but not supported at this time",
    EcaStatus.ECA_STRTOBIG: "The supplied string is unusually large",
    EcaStatus.ECA_DISCONNCHID: "The request was ignored because the specified channel "
                               "is disconnected",
    EcaStatus.ECA_BADTYPE: "The data type specifed is invalid",
    EcaStatus.ECA_CHIDNOTFND: "Remote Channel not found",
    EcaStatus.ECA_CHIDRETRY: "Unable to locate all user specified channels",
    EcaStatus.ECA_INTERNAL: "Channel Access Internal Failure",
    EcaStatus.ECA_DBLCLFAIL: "The requested local DB operation failed",
    EcaStatus.ECA_GETFAIL: "Channel read request failed",
    EcaStatus.ECA_PUTFAIL: "Channel write request failed",
    EcaStatus.ECA_ADDFAIL: "Channel subscription request failed",
    EcaStatus.ECA_BADCOUNT: "Invalid element count requested",
    EcaStatus.ECA_BADSTR: "Invalid string",
    EcaStatus.ECA_DISCONN: "Virtual circuit disconnect",
    EcaStatus.ECA_DBLCHNL: "Identical process variable names on multiple servers",
    EcaStatus.ECA_EVDISALLOW: "Request inappropriate within subscription (monitor) update "
                              "callback",
    EcaStatus.ECA_BUILDGET: "Database value get for that channel failed during channel search",
    EcaStatus.ECA_NEEDSFP: "Unable to initialize without the vxWorks VX_FP_TASK task option set",
    EcaStatus.ECA_OVEVFAIL: "Event queue overflow has prevented first pass event after "
                            "event add",
    EcaStatus.ECA_BADMONID: "Bad event subscription (monitor) identifier",
    EcaStatus.ECA_NEWADDR: "Remote channel has new network address",
    EcaStatus.ECA_NEWCONN: "New or resumed network connection",
    EcaStatus.ECA_NOCACTX: "Specified task isnt a member of a CA context",
    EcaStatus.ECA_DEFUNCT: "Attempt to use defunct CA feature failed",
    EcaStatus.ECA_EMPTYSTR: "The supplied string is empty",
    EcaStatus.ECA_NOREPEATER: "Unable to spawn the CA repeater thread- auto reconnect will fail",
    EcaStatus.ECA_NOCHANMSG: "No channel id match for search reply- search reply ignored",
    EcaStatus.ECA_DLCKREST: "Reseting dead connection- will try to reconnect",
    EcaStatus.ECA_SERVBEHIND: "Server (IOC) has fallen behind or is not responding- "
                              "still waiting",
    EcaStatus.ECA_NOCAST: "No internet interface with broadcast available",
    EcaStatus.ECA_BADMASK: "Invalid event selection mask",
    EcaStatus.ECA_IODONE: "IO operations have completed",
    EcaStatus.ECA_IOINPROGRESS: "IO operations are in progress",
    EcaStatus.ECA_BADSYNCGRP: "Invalid synchronous group identifier",
    EcaStatus.ECA_PUTCBINPROG: "Put callback timed out",
    EcaStatus.ECA_NORDACCESS: "Read access denied",
    EcaStatus.ECA_NOWTACCESS: "Write access denied",
    EcaStatus.ECA_ANACHRONISM: "Requested feature is no longer supported",
    EcaStatus.ECA_NOSEARCHADDR: "Empty PV search address list",
    EcaStatus.ECA_NOCONVERT: "No reasonable data conversion between client and server types",
    EcaStatus.ECA_BADCHID: "Invalid channel identifier",
    EcaStatus.ECA_BADFUNCPTR: "Invalid function pointer",
    EcaStatus.ECA_ISATTACHED: "Thread is already attached to a client context",
    EcaStatus.ECA_UNAVAILINSERV: "Not supported by attached service",
    EcaStatus.ECA_CHANDESTROY: "User destroyed channel",
    EcaStatus.ECA_BADPRIORITY: "Invalid channel priority",
    EcaStatus.ECA_NOTTHREADED: "Preemptive callback not enabled - additional threads may "
                               "not join context",
    EcaStatus.ECA_16KARRAYCLIENT: "Client's protocol revision does not support transfers "
                                  "exceeding 16k bytes",
    EcaStatus.ECA_CONNSEQTMO: "Virtual circuit connection sequence aborted",
    EcaStatus.ECA_UNRESPTMO: "Virtual circuit unresponsive",
}


def eca_message(status: int) -> str:
    """The text of an ECA status code, or a description of an unknown code."""
    try:
        return ECA_MESSAGES[EcaStatus(status)]
    except ValueError:
        return f"unknown CA status code {status}"


def eca_succeeded(status: int) -> bool:
    """True for the status codes whose severity bit says success."""
    return bool(status & 1)
