"""pyepics' ``epics.devices.bo``: the fields of a binary output record."""
from ..device import Device  # noqa: F401 -- a name of pyepics' module too
from ._record import RecordFields as _RecordFields


class bo(_RecordFields):
    """A binary output record: ``bo('XX:valve').VAL = 1``, ``.HIGH``, ``.ZNAM``, ..."""

    attrs = ('DOL', 'OMSL', 'RVAL', 'HIGH', 'ZNAM', 'ONAM', 'VAL', 'EGU', 'HOPR', 'LOPR',
             'PREC', 'NAME', 'DESC', 'DTYP')
