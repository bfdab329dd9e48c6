"""``python -m epics_compat.caget``: the caget tool (see :mod:`epics_compat.tools.caget`).

Imported rather than run, this module stands aside: ``epics_compat.caget`` is pyepics'
caget() function, and ``import epics_compat.caget`` leaves it that way.
"""
import sys

if __name__ == "__main__":
    from epics_compat.tools.caget import main

    sys.exit(main())
else:
    from epics_compat.tools import stand_aside

    stand_aside(__name__)
