"""``python -m epics_compat.camonitor``: the camonitor tool (see :mod:`epics_compat.tools.camonitor`).

Imported rather than run, this module stands aside: ``epics_compat.camonitor`` is pyepics'
camonitor() function, and ``import epics_compat.camonitor`` leaves it that way.
"""
import sys

if __name__ == "__main__":
    from epics_compat.tools.camonitor import main

    sys.exit(main())
else:
    from epics_compat.tools import stand_aside

    stand_aside(__name__)
