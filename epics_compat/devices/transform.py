"""pyepics' ``epics.devices.transform``: the synApps transform record.

Each of the 16 rows A..P has a value, an input link, an expression, an output link, a
comment and their valid flags; ``get_row('B')`` reads all of one row as a dict.
"""
from ..device import Device


class Transform(Device):
    """A transform record, its fields as attributes (``t.CLCB``, ``t.B``, ``t.COPT``)."""

    #: Row item -> field name pattern ('%s' is the row letter).
    attr_fmts = {'Value': '%s', 'Input': 'INP%s', 'Input_Valid': 'I%sV',
                 'Expression': 'CLC%s', 'Output': 'OUT%s', 'Output_Valid': 'O%sV',
                 'Comment': 'CMT%s', 'Expression_Valid': 'C%sV', 'Previous_Value': 'L%s'}
    rows = 'ABCDEFGHIJKLMNOP'

    def __init__(self, prefix, **kwargs):
        if prefix.endswith('.'):
            prefix = prefix[:-1]
        # Stored directly: Device drops attributes set before its __init__ (pyepics'
        # Transform sets it as an attribute, loses it, and fails with AttributeError).
        self.__dict__['attrs'] = ['COPT', 'PREC'] + [
            pattern % row for pattern in self.attr_fmts.values() for row in self.rows]
        Device.__init__(self, prefix, delim='.', attrs=self.attrs, **kwargs)

    def __validrow(self, row):
        # pyepics tests isinstance(row, (str, unicode)), a NameError on Python 3.
        return isinstance(row, str) and len(row) == 1 and row in self.rows

    def _field(self, item, row):
        return self._pvs[self.attr_fmts[item] % row]

    def get_row(self, row='A'):
        """All items of a row as a dict (keys of ``attr_fmts``); None for a bad row."""
        if not self.__validrow(row):
            return None
        return {item: self._field(item, row).get() for item in self.attr_fmts}

    def set_row(self, row='A', data=None):
        """Write a get_row() dict back to a row (its writable items only)."""
        if not self.__validrow(row):
            return None
        for item, value in data.items():
            if item in self.attr_fmts and self._field(item, row).write_access:
                self._field(item, row).put(value)

    def set_calc(self, row='A', calc=''):
        """Set the expression of a row."""
        if not self.__validrow(row):
            return None
        self._field('Expression', row).put(calc)

    def set_comment(self, row='A', comment=''):
        """Set the comment of a row."""
        if not self.__validrow(row):
            return None
        # pyepics puts an undefined name here (a NameError); the comment is meant.
        self._field('Comment', row).put(comment)

    def set_input(self, row='A', input=''):
        """Set the input link (a PV name) of a row."""
        if not self.__validrow(row):
            return None
        self._field('Input', row).put(input)
