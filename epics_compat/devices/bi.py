"""pyepics' ``epics.devices.bi``: the fields of a binary input record."""
from ..device import Device  # noqa: F401 -- a name of pyepics' module too
from ._record import RecordFields as _RecordFields


class bi(_RecordFields):
    """A binary input record: ``bi('XX:switch').VAL``, ``.ZNAM``, ``.ONAM``, ..."""

    attrs = ('INP', 'ZNAM', 'ONAM', 'RVAL', 'VAL', 'EGU', 'HOPR', 'LOPR', 'PREC', 'NAME',
             'DESC', 'DTYP')
