"""``python -m epics_compat.cainfo``: the cainfo tool (see :mod:`epics_compat.tools.cainfo`).

Imported rather than run, this module stands aside: ``epics_compat.cainfo`` is pyepics'
cainfo() function, and ``import epics_compat.cainfo`` leaves it that way.
"""
import sys

if __name__ == "__main__":
    from epics_compat.tools.cainfo import main

    sys.exit(main())
else:
    from epics_compat.tools import stand_aside

    stand_aside(__name__)
