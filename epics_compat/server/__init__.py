"""A pure-Python Channel Access server on caproto_core: IOCs written in Python.

Users declare PVs as a ``Group`` and serve it with ``run`` (see ``group`` and ``runner``,
and the IOCs in ``examples``); tests also use it for what a softIoc cannot serve: a
simulated motor record, synApps-like records (``records``) and scripted faults. It needs only the standard library, caproto_core, epics_compat's
repeater and (if present) numpy.

    from epics_compat.server import PV, Motor, Server

    pvs = [PV("x", "double", 1.5, units="mm", precision=3), Motor("m1", velocity=2.0)]
    with Server(pvs, port=0) as server:  # 127.0.0.1, a free port: server.port
        env = server.client_env          # EPICS_CA_ADDR_LIST etc. for a client
        server["x"].write(2.5)           # post monitors, as a record would
        server.faults.hang(True)         # drop_circuits, delay, restart, ... see Faults

``Repeater`` relays beacons to libca clients where no caRepeater runs. Run
``python -m epics_compat.server --help`` for the command line.
"""
from .convert import ConversionError
from .faults import MALFORMED_KINDS, Faults
from .group import Group, periodic, pv, startup, subgroup
from .motor import Motor
from .pv import PV
from ..repeater import Repeater
from .runner import run
from .server import Server

__all__ = ["PV", "Motor", "Server", "Repeater", "Faults", "MALFORMED_KINDS", "ConversionError",
           "Group", "pv", "subgroup", "startup", "periodic", "run"]
