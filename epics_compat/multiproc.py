"""pyepics' ``epics.multiproc``: processes and pools whose children use Channel Access.

A child process must not use the sockets and threads of its parent's CA context. A
forked child already drops them (``ca`` resets itself after fork); CAProcess also
clears the caches and starts a fresh context before running its target, as pyepics'
CAProcess does, so PVs made in the parent are not reused by accident.
"""
from __future__ import annotations

import multiprocessing as mp
from multiprocessing.pool import Pool

from . import ca
from .ca import clear_cache

__all__ = ['CAProcess', 'CAPool', 'clear_ca_cache']

#: pyepics' name for ca.clear_cache, listed in its __all__.
clear_ca_cache = clear_cache


class CAProcess(mp.Process):
    """A multiprocessing.Process that starts with a fresh CA context of its own."""

    def __init__(self, *args, **kws):
        # Pool passes its multiprocessing context first: start the way it says (fork,
        # spawn, forkserver). A plain Process takes no context argument.
        context = None
        if args and isinstance(args[0], mp.context.BaseContext):
            context, args = args[0], args[1:]
        mp.Process.__init__(self, *args, **kws)
        if context is not None:
            self._Popen = context.Process._Popen

    def run(self):
        ca.initial_context = None
        clear_cache()
        mp.Process.run(self)


class CAPool(Pool):
    """A multiprocessing.Pool whose workers are CAProcesses."""

    def __init__(self, *args, **kwargs):
        self.Process = CAProcess
        Pool.__init__(self, *args, **kwargs)
