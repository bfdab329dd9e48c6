"""``python -m epics_compat.caput``: the caput tool (see :mod:`epics_compat.tools.caput`).

Imported rather than run, this module stands aside: ``epics_compat.caput`` is pyepics'
caput() function, and ``import epics_compat.caput`` leaves it that way.
"""
import sys

if __name__ == "__main__":
    from epics_compat.tools.caput import main

    sys.exit(main())
else:
    from epics_compat.tools import stand_aside

    stand_aside(__name__)
