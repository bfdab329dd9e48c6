"""The shared shape of the one-record devices (ai, ao, bi, bo): fields as attributes."""
from __future__ import annotations

from ..device import Device


class RecordFields(Device):
    """A Device for one record, its fields (``attrs`` of the subclass) named ``NAME.FIELD``.

    A trailing '.' of the record name is dropped, so 'XX:ai' and 'XX:ai.' are the same.
    """

    attrs: tuple = ()

    def __init__(self, prefix, **kwargs):
        if prefix.endswith('.'):
            prefix = prefix[:-1]
        Device.__init__(self, prefix, delim='.', attrs=self.attrs, **kwargs)
