"""The smallest IOC: ``<prefix>A``, an integer (initially 1), and ``<prefix>B``, a float
(initially 2.0). Default prefix ``simple:``::

    python -m epics_compat.server.examples.simple --list-pvs
    epics-caget simple:A simple:B
"""
from __future__ import annotations

from epics_compat.server.group import Group, pv
from epics_compat.server.runner import run


class Simple(Group):
    A = pv(1, doc="an integer")
    B = pv(2.0, doc="a float", precision=3)


if __name__ == "__main__":
    run(Simple, default_prefix="simple:", description=__doc__.splitlines()[0])
