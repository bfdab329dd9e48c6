"""The type names of aioca's signatures (``aioca.types``), for code that annotates with
them: timeouts, event masks, DBR codes, formats, counts, and the augmented value."""
from __future__ import annotations

import datetime as _datetime
from typing import List, Literal, Protocol, Sized, Tuple, Type, Union

#: None (never), seconds from now, or (an absolute time.time() deadline,).
Timeout = Union[None, Tuple[float], float]
#: A DBE_* mask, or None for the default of the format.
Dbe = Union[None, int]
#: The DBR codes a request may name.
Dbr = Literal[0, 1, 2, 3, 4, 5, 6, 35, 36, 37, 38, 996, 997, 998, 999]
#: A DBR code, a Python type or numpy dtype, or None for the channel's own type.
Datatype = Union[None, Dbr, Type]
#: FORMAT_RAW, FORMAT_TIME or FORMAT_CTRL.
Format = Literal[0, 1, 2]
#: 0: as many as the server has now; -1: the channel's full length; n: at most n.
Count = Union[Literal[0, -1], int]


class AugmentedValue(Protocol, Sized):
    """A value from caget or camonitor: a str, int, float, bytes or numpy array with the
    fields of its request. Every one has ``name`` and ``ok``; FORMAT_TIME adds status,
    severity and the timestamp; FORMAT_CTRL adds units, limits and precision, or enums."""
    name: str
    ok: bool
    errorcode: int
    datatype: int
    element_count: int
    severity: int
    status: int
    raw_stamp: Tuple[int, int]
    timestamp: float
    datetime: _datetime.datetime
    units: str
    upper_disp_limit: float
    lower_disp_limit: float
    upper_alarm_limit: float
    lower_alarm_limit: float
    upper_warning_limit: float
    lower_warning_limit: float
    upper_ctrl_limit: float
    lower_ctrl_limit: float
    precision: int
    enums: List[str]
    ackt: int
    acks: int
