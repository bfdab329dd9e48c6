"""Two simulated motor records, ``<prefix>m1`` and ``<prefix>m2`` (fields ``.VAL``,
``.RBV``, ``.DMOV``, ``.VELO``, ``.HLM`` ...), that pyepics' Motor and ophyd's EpicsMotor
drive. Default prefix ``motor:``."""
from __future__ import annotations

from epics_compat.server.group import Group, subgroup
from epics_compat.server.motor import Motor
from epics_compat.server.runner import run


class Stage(Group):
    m1 = subgroup(Motor, "m1", velocity=1.0)
    m2 = subgroup(Motor, "m2", velocity=2.0)


if __name__ == "__main__":
    run(Stage, default_prefix="motor:", description=__doc__.splitlines()[0])
