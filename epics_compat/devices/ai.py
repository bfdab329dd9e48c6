"""pyepics' ``epics.devices.ai``: the fields of an analog input record."""
from ..device import Device  # noqa: F401 -- a name of pyepics' module too
from ._record import RecordFields as _RecordFields


class ai(_RecordFields):
    """An analog input record: ``ai('XX:temp').VAL``, ``.EGU``, ``.HIHI``, ..."""

    attrs = ('VAL', 'EGU', 'HOPR', 'LOPR', 'PREC', 'NAME', 'DESC', 'DTYP', 'INP', 'LINR',
             'RVAL', 'ROFF', 'EGUF', 'EGUL', 'AOFF', 'ASLO', 'ESLO', 'EOFF', 'SMOO',
             'HIHI', 'LOLO', 'HIGH', 'LOW', 'HHSV', 'LLSV', 'HSV', 'LSV', 'HYST')
