"""pyepics' ``epics.devices.ao``: the fields of an analog output record."""
from ..device import Device  # noqa: F401 -- a name of pyepics' module too
from ._record import RecordFields as _RecordFields


class ao(_RecordFields):
    """An analog output record: ``ao('XX:volts').VAL = 1.5``, ``.DRVH``, ``.OROC``, ..."""

    attrs = ('OUT', 'LINR', 'RVAL', 'ROFF', 'EGUF', 'EGUL', 'AOFF', 'ASLO', 'ESLO', 'EOFF',
             'VAL', 'EGU', 'HOPR', 'LOPR', 'PREC', 'NAME', 'DESC', 'DTYP', 'HIHI', 'LOLO',
             'HIGH', 'LOW', 'HHSV', 'LLSV', 'HSV', 'LSV', 'HYST', 'OMSL', 'DOL', 'OIF',
             'DRVH', 'DRVL', 'OROC', 'OVAL')
