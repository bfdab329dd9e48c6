"""A PV's user callbacks: the value-change callbacks by index, the connection and
access-rights callbacks, and running them with the PV's data.

``PVCallbacks`` is a base of ``PV``; the lists are made when first used (most PVs have
none), and callbacks get ``PV._args`` as keyword arguments, as in pyepics.
"""
from __future__ import annotations

from . import ca
from ._pv_context import ensure_context
from .sync import made_when_used


class PVCallbacks:
    """The callback half of a PV (see ``PV``)."""

    callbacks = made_when_used(
        '_callbacks', dict, "index -> (function, keywords) of the value-change callbacks.")
    connection_callbacks = made_when_used(
        '_connection_callbacks', list, "Functions called as f(pvname=, conn=, pv=) on "
                                       "connection changes.")
    access_callbacks = made_when_used(
        '_access_callbacks', list, "Functions called as f(read_access, write_access, "
                                   "pv=) on access rights changes.")

    @ensure_context
    def run_callbacks(self):
        """Run every user callback, in index order, with the current data."""
        callbacks = self._callbacks
        if not callbacks:
            return
        if type(self).run_callback is PVCallbacks.run_callback:
            # The context is ours already: skip run_callback's check of it, a wrapper
            # call and a context lookup per callback and monitor update.
            for index in sorted(callbacks):
                self._run_callback(index)
        else:  # a subclass's run_callback is called, as pyepics' run_callbacks does
            for index in sorted(callbacks):
                self.run_callback(index)

    @ensure_context
    def run_callback(self, index):
        """Run one user callback with ``_args``, its own keywords and cb_info=(index, pv)."""
        self._run_callback(index)

    def _run_callback(self, index):
        try:
            func, extra = self._callbacks[index]
        except (KeyError, TypeError):  # TypeError: no callbacks at all (None)
            return
        kwds = self._args.copy()  # what copy.copy does for a dict, without its dispatch
        kwds.update(extra)
        kwds['cb_info'] = (index, self)
        if callable(func):
            func(**kwds)

    def add_callback(self, callback=None, index=None, run_now=False,
                     with_ctrlvars=True, **kw):
        """Add a value-change callback; returns its index (for remove_callback).

        Extra keywords are passed to the callback with every call. ``run_now`` runs
        it once at once; ``with_ctrlvars`` fetches the CTRL metadata first so that
        the callback sees units, limits and enum strings.
        """
        if callable(callback):
            if index is None:
                index = 1 + max(self.callbacks) if self.callbacks else 1
            self.callbacks[index] = (callback, kw)
        if with_ctrlvars and self.connected:
            self.get_ctrlvars()
        if run_now:
            self.get(as_string=True)
            if self.connected:
                self.run_callback(index)
        return index

    @ensure_context
    def remove_callback(self, index=None):
        """Remove the callback of index ``index``."""
        callbacks = self._callbacks
        if callbacks and index in callbacks:
            callbacks.pop(index)
            ca.poll()

    def clear_callbacks(self, with_access_callback=False, with_connect_callback=False):
        """Remove every value callback (and optionally access and connection ones)."""
        if self._callbacks:
            self._callbacks.clear()
        if with_access_callback:
            self._access_callbacks = None  # a new empty list when next used
        if with_connect_callback:
            self._connection_callbacks = None
