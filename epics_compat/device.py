"""pyepics' ``epics.device``: a group of PVs sharing a prefix, used as attributes.

``Device('XX:m1', delim='.')`` maps attribute ``VAL`` to PV ``XX:m1.VAL``: ``dev.VAL``
gets it, ``dev.VAL = 1`` puts it, ``dev.put('VAL', 1, wait=True)`` waits for
completion. PVs are made on first use (or up front from ``attrs``) and kept.
"""
from __future__ import annotations

import time

from .ca import poll
from .pv import get_pv
from .utils import IOENCODING


def _is_interactive_probe(attr: str) -> bool:
    """Names IPython and Jupyter look up on any object; never PV suffixes."""
    return attr.startswith('_ipython_') or (attr.startswith('_repr_') and attr.endswith('_'))


class Device:
    """A collection of PVs named prefix + delim + attribute, read and written as attributes.

    >>> dev = Device('XX:m1', delim='.', attrs=('VAL', 'RBV'), aliases={'readback': 'RBV'})
    >>> dev.VAL = 0.25           # caput XX:m1.VAL 0.25
    >>> dev.readback             # caget XX:m1.RBV
    >>> dev.get('DESC', as_string=True)
    >>> dev.put('VAL', 1, wait=True)

    With ``mutable=False`` only known attributes (``attrs``, ``aliases``, PVs already
    used) are PVs: any other name raises AttributeError at once, without Channel Access
    (useful with introspection tools). ``nonpvs`` names plain instance attributes. With
    no prefix a Device is a plain container: ``dev.PV('full:name')``.
    """

    _prefix = None
    _delim = ''
    _pvs: dict = {}
    _init = False
    _aliases: dict = {}
    _mutable = True
    _nonpvs: tuple[str, ...] = ('_prefix', '_pvs', '_delim', '_init', '_aliases', '_mutable',
                                '_nonpvs')

    def __init__(self, prefix='', attrs=None, nonpvs=None, delim='', timeout=None,
                 mutable=True, aliases=None, with_poll=True):
        self._nonpvs = list(self._nonpvs)
        self._delim = delim
        self._prefix = prefix + delim
        self._pvs = {}
        self._mutable = mutable
        self._aliases = {} if aliases is None else aliases
        for name in nonpvs or ():
            if name not in self._nonpvs:
                self._nonpvs.append(name)
        for attr in attrs or ():
            self.PV(attr, connect=False, timeout=timeout)
        for attr in self._aliases.values():
            if attrs is None or attr not in attrs:
                self.PV(attr, connect=False, timeout=timeout)
        if with_poll:
            poll()
        self._init = True

    def PV(self, attr, connect=True, **kw):
        """The PV of an attribute (or alias), made on first use; waits for its
        connection unless ``connect=False``. Keywords go to get_pv()."""
        attr = self._aliases.get(attr, attr)
        if attr not in self._pvs:
            pvname = attr if self._prefix is None else f"{self._prefix}{attr}"
            self._pvs[attr] = get_pv(pvname, **kw)
        thispv = self._pvs[attr]
        if connect and not thispv.connected:
            thispv.wait_for_connection()
        return thispv

    def add_pv(self, pvname, attr=None, **kw):
        """Add a PV whose name does not follow prefix + delim + attr, as attribute
        ``attr`` (default: the full PV name); returns the PV."""
        if attr is None:
            attr = pvname
        self._pvs[attr] = get_pv(pvname, **kw)
        return self._pvs[attr]

    def put(self, attr, value, wait=False, use_complete=False, timeout=10):
        """Write an attribute's PV (see PV.put for wait and use_complete)."""
        thispv = self.PV(attr)
        thispv.wait_for_connection()
        return thispv.put(value, wait=wait, use_complete=use_complete, timeout=timeout)

    def get(self, attr, as_string=False, count=None, timeout=None):
        """Read an attribute's PV (see PV.get)."""
        return self.PV(attr).get(as_string=as_string, count=count, timeout=timeout)

    def save_state(self):
        """The values of all attributes used so far, as a dict (char arrays as text)."""
        state = {}
        for attr, thispv in list(self._pvs.items()):
            state[attr] = thispv.get()
            if thispv.count > 1 and thispv.type == 'char':
                state[attr] = thispv.get(as_string=True)
        return state

    def restore_state(self, state):
        """Put back the values of a save_state() dict, to the writable PVs only."""
        for attr, value in state.items():
            if attr in self._pvs and 'write' in self._pvs[attr].access:
                self._pvs[attr].put(value)

    def write_state(self, fname, state=None):
        """Write a saved state (default: the current one) to a text file.

        Only writable PVs with one element, or char arrays, are written.
        """
        if state is None:
            state = self.save_state()
        header = (f"#Device Saved State for {self.__class__.__name__},"
                  f"prefix='{self._prefix}',time={time.ctime()}")
        lines = [header]
        for attr in sorted(state):
            thispv = self._pvs.get(attr)
            if thispv is not None and 'write' in thispv.access \
                    and (thispv.count == 1 or thispv.type == 'char'):
                lines.append(f"{attr} {state[attr]}")
        lines.append('')
        with open(fname, 'w', encoding=IOENCODING) as out:
            out.write('\n'.join(lines))

    def read_state(self, fname, restore=False):
        """Read a write_state() file into a state dict; ``restore`` also puts it back."""
        with open(fname, 'r', encoding=IOENCODING) as inp:
            lines = inp.readlines()
        state = {}
        for line in lines:
            if line.startswith('#'):
                continue
            attr, text = line[:-1].split(' ', 1)
            if attr not in self._pvs:
                continue
            kind = self._pvs[attr].type
            if kind in ('double', 'float'):
                state[attr] = float(text)
            elif kind in ('int', 'long', 'short', 'enum'):
                state[attr] = int(text)
            else:
                state[attr] = text
        if restore:
            self.restore_state(state)
        return state

    def get_all(self):
        """Same as save_state()."""
        return self.save_state()

    def add_callback(self, attr, callback, **kws):
        """Add a value-change callback to an attribute's PV; returns its index."""
        self.PV(attr).get()
        return self.PV(attr).add_callback(callback, **kws)

    def remove_callbacks(self, attr, index=None):
        """Remove the callback of index ``index`` from an attribute's PV."""
        self.PV(attr).remove_callback(index=index)

    def __getattr__(self, attr):
        attr = self._aliases.get(attr, attr)
        if attr in self._pvs:
            return self.get(attr)
        if attr in self.__dict__:
            return self.__dict__[attr]
        if self._init and self._mutable and not attr.startswith('__') \
                and not _is_interactive_probe(attr):
            thispv = self.PV(attr, connect=True)
            if thispv.connected:
                return thispv.get()
        raise AttributeError(f'{self.__class__.__name__} has no attribute {attr}')

    def __setattr__(self, attr, val):
        if isinstance(getattr(type(self), attr, None), property):
            # A property of the class (pv_property, say) sets itself. pyepics makes
            # a PV named after the property instead, and the assignment is lost.
            object.__setattr__(self, attr, val)
            return
        attr = self._aliases.get(attr, attr)
        if attr in self._nonpvs:
            self.__dict__[attr] = val
        elif attr in self._pvs:
            self.put(attr, val)
        elif self._init and self._mutable and not attr.startswith('__'):
            try:
                self.PV(attr)
                self.put(attr, val)
            except Exception:
                raise AttributeError(f'{self.__class__.__name__} has no attribute {attr}') \
                    from None
        elif attr in self.__dict__:
            self.__dict__[attr] = val
        elif self._init:
            raise AttributeError(f'{self.__class__.__name__} has no attribute {attr}')
        # Otherwise (before __init__ is done) the assignment is dropped, as in pyepics:
        # a subclass whose _nonpvs lacks '_init' never finishes __init__ that way, and
        # its unknown attributes are then neither PVs nor stored (Scaler, MCA, ...).

    def __dir__(self):
        names = set(self._aliases) | set(self._pvs) | set(self._nonpvs) \
            | set(self.__dict__) | set(dir(type(self)))
        return sorted(names)

    def __repr__(self):
        prefix = self._prefix
        if prefix.endswith('.'):
            prefix = prefix[:-1]
        return f"<Device '{prefix}', {len(self._pvs)} attributes>"

    @staticmethod
    def pv_property(attr, as_string=False, wait=False, timeout=10.0):
        """A class attribute that reads and writes the PV of ``attr``:
        ``val = Device.pv_property('VAL', wait=True)`` in a subclass body."""
        return property(lambda self: self.get(attr, as_string=as_string),
                        lambda self, val: self.put(attr, val, wait=wait, timeout=timeout),
                        None, None)
