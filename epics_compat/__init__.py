"""epics_compat: a pyepics-compatible Channel Access client in pure Python.

Use it as pyepics::

    import epics_compat as epics
    epics.caget('XX:m1.VAL')
    pv = epics.PV('XX:m1.VAL', callback=on_change)

or make every ``import epics`` in the process (third-party code included) resolve to this
package by calling :func:`install_as_epics` before anything imports ``epics``.

Top-level functions: caget, caput, cainfo, camonitor, camonitor_clear, caget_many,
caput_many, get_pv, poll. Classes: PV, Device, Motor, Alarm, CAProcess, CAPool.
Submodules: ca, dbr, pv, device, motor, alarm, multiproc, utils, autosave.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import threading
import time

from . import _debug
_debug.from_environment()  # EPICS_COMPAT_DEBUG=1: every CA message to stderr

from . import ca, dbr, pv, utils, alarm, device, motor, multiproc, autosave
from .version import __version__

PV = pv.PV
Alarm = alarm.Alarm
Motor = motor.Motor
Device = device.Device
poll = ca.poll
get_pv = pv.get_pv
CAProcess = multiproc.CAProcess
CAPool = multiproc.CAPool

# Alarm severities.
NO_ALARM = 0
MINOR_ALARM = 1
MAJOR_ALARM = 2
INVALID_ALARM = 3

#: PVs monitored by camonitor(), by name.
_PVmonitors_: dict = {}

__all__ = ['PV', 'Alarm', 'Motor', 'Device', 'CAProcess', 'CAPool', 'poll', 'get_pv',
           'caget', 'caput', 'cainfo', 'camonitor', 'camonitor_clear', 'caget_many',
           'caput_many', 'NO_ALARM', 'MINOR_ALARM', 'MAJOR_ALARM', 'INVALID_ALARM',
           'install_as_epics', 'install_as_aioca', 'ca', 'dbr', 'pv', 'device', 'motor', 'alarm', 'multiproc',
           'utils', 'autosave', '__version__']


def caput(pvname, value, wait=False, timeout=60.0, connection_timeout=5.0):
    """Write ``value`` to a PV (kept in the get_pv() cache for later calls).

    wait: block until processing has completed, at most ``timeout`` seconds counted
    from the call. Returns 1 on success, a negative number if the put failed or timed
    out, None if the PV did not connect within ``connection_timeout`` seconds.
    """
    start = time.time()
    thispv = get_pv(pvname, timeout=connection_timeout, connect=True)
    if not thispv.connected:
        return None
    timeout -= time.time() - start
    return thispv.put(value, wait=wait, timeout=timeout)


def caget(pvname, as_string=False, count=None, as_numpy=True, use_monitor=True,
          timeout=5.0, connection_timeout=5.0):
    """The value of a PV (kept in the get_pv() cache, so later calls use its monitor).

    as_string: the text form (enum name, float formatted with PREC, char array as
    str); count: at most this many elements; as_numpy: arrays as numpy arrays;
    use_monitor: False asks the server even when monitoring. None if the PV did not
    connect within ``connection_timeout`` seconds or the value did not come in time.
    """
    start = time.time()
    thispv = get_pv(pvname, timeout=connection_timeout, connect=True)
    if not thispv.connected:
        return None
    if as_string:
        thispv.get_ctrlvars()
    timeout -= time.time() - start
    value = thispv.get(count=count, timeout=timeout, use_monitor=use_monitor,
                       as_string=as_string, as_numpy=as_numpy)
    poll()
    return value


def cainfo(pvname, print_out=True, timeout=5.0, connection_timeout=5.0):
    """Print (or with ``print_out=False`` return) a report on a PV: value, type, count,
    host, access, alarm state, timestamp, limits, units, enum strings, monitoring."""
    start = time.time()
    thispv = get_pv(pvname, timeout=connection_timeout, connect=True)
    if not thispv.connected:
        return None
    thispv.get(timeout=timeout - (time.time() - start))
    thispv.get_ctrlvars(timeout=timeout - (time.time() - start))
    if print_out:
        ca.write(thispv.info)
        return None
    return thispv.info


#: The callback index camonitor() uses on its PV: one camonitor per PV, replaced by the next.
_CAMONITOR_INDEX = -999


def camonitor_clear(pvname):
    """Stop the camonitor() of a PV."""
    monitored = _PVmonitors_.pop(pvname, None)
    if monitored is not None:
        monitored.remove_callback(index=_CAMONITOR_INDEX)


def _monitor_line(writer):
    """The default camonitor callback: 'name time value' (the name cut at 32 characters,
    the local time of the update, the value as text) to ``writer``."""
    def report(pvname=None, value=None, char_value=None, **_):
        text = repr(value) if char_value is None else char_value
        writer(f"{pvname:.32s} {pv.fmt_time()} {text}")
    return report


def camonitor(pvname, writer=None, callback=None, connection_timeout=5.0,
              monitor_delta=None):
    """Report every change of a PV: a line 'name time value' to ``writer`` (default:
    standard output), or a call of ``callback(pvname=, value=, char_value=, ...)``."""
    if callback is None:
        callback = _monitor_line(ca.write if writer is None else writer)
    monitored = get_pv(pvname, timeout=connection_timeout, connect=True,
                       monitor_delta=monitor_delta)
    if not monitored.connected:
        return
    monitored.get()  # the current value in the cache before the first report
    monitored.add_callback(callback, index=_CAMONITOR_INDEX, with_ctrlvars=True)
    _PVmonitors_[pvname] = monitored


def caget_many(pvlist, as_string=False, as_numpy=True, count=None, timeout=1.0,
               connection_timeout=5.0, conn_timeout=None):
    """Values of many PVs at once: all connect in parallel, all gets go out together.

    ``connection_timeout`` (or its old name ``conn_timeout``) bounds the wait for all
    connections, ``timeout`` each get. None stands for a PV that did not connect or
    answer. No PV objects are kept.
    """
    if conn_timeout is not None:
        connection_timeout = conn_timeout
    deadline = time.monotonic() + connection_timeout
    chids = [ca.create_channel(name, auto_cb=False, connect=False) for name in pvlist]
    return ca._get_many(chids, count, as_string, as_numpy, timeout, deadline)


def caput_many(pvlist, values, wait=False, connection_timeout=5.0, put_timeout=60):
    """Write many PVs at once. ``wait='each'`` waits for each put in turn, ``wait='all'``
    for all of them together (``put_timeout`` seconds). Returns, per PV, 1 for success,
    a negative number for a failed or timed-out put."""
    if len(pvlist) != len(values):
        raise ValueError("List of PV names must be equal to list of values.")
    pvs = [get_pv(name, auto_monitor=False, timeout=connection_timeout) for name in pvlist]
    wait_all = wait == 'all'
    events = []
    results = []
    for thispv, value in zip(pvs, values):
        done = threading.Event()
        events.append(done)
        results.append(thispv.put(value, wait=(wait == 'each'), timeout=put_timeout,
                                  use_complete=wait_all,
                                  callback=(lambda done=done, **kws: done.set())
                                  if wait_all else None))
    if not wait_all:
        return [ret if ret == 1 else -1 for ret in results]
    deadline = time.monotonic() + put_timeout
    for thispv, done in zip(pvs, events):
        if thispv.connected:
            ca._wait(done, max(0.0, deadline - time.monotonic()), thispv.context)
    return [1 if (thispv.connected and thispv.put_complete) else -1 for thispv in pvs]


# --- import epics -> epics_compat ----------------------------------------------------------

class EpicsImportConflict(ImportError):
    """install_as_epics() found another ``epics`` package already imported."""


class _AliasLoader(importlib.abc.Loader):
    """Loads ``epics.X`` by importing ``epics_compat.X`` and putting it in its place."""

    def __init__(self, real_name: str):
        self.real_name = real_name

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        # The import system returns whatever sys.modules holds after this.
        sys.modules[module.__name__] = importlib.import_module(self.real_name)


class _EpicsAliasFinder(importlib.abc.MetaPathFinder):
    """First on sys.meta_path: ``epics`` and ``epics.*`` come from epics_compat."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != 'epics' and not fullname.startswith('epics.'):
            return None
        real_name = __name__ + fullname[len('epics'):]
        if importlib.util.find_spec(real_name) is None:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(real_name))


def _module_file(module) -> str:
    return getattr(module, '__file__', None) or repr(module)


def install_as_epics():
    """Make ``import epics`` and ``import epics.<submodule>`` give epics_compat.

    Call it before anything imports ``epics`` (third-party libraries written for
    pyepics, such as ophyd, included). Raises EpicsImportConflict, naming what was
    imported from where, if another ``epics`` is already imported. Calling it again
    does nothing. Returns the epics_compat module.
    """
    this = sys.modules[__name__]
    conflicts = [(name, module) for name, module in list(sys.modules.items())
                 if (name == 'epics' or name.startswith('epics.')) and module is not None
                 and module is not sys.modules.get(__name__ + name[len('epics'):])]
    if conflicts:
        name, module = min(conflicts, key=lambda item: len(item[0]))
        raise EpicsImportConflict(
            f"cannot install epics_compat as 'epics': module {name!r} is already imported "
            f"from {_module_file(module)}. Call epics_compat.install_as_epics() before "
            f"anything imports epics (or don't import pyepics in this process).")
    if not any(isinstance(finder, _EpicsAliasFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _EpicsAliasFinder())
    # Submodules are aliased when imported (by the finder), not now: code that checks
    # whether 'epics.ca' is imported yet (epicscorelibs.path.pyepics, which ophyd
    # imports, warns if so) sees what it would see before pyepics' first import.
    sys.modules['epics'] = this
    return this


def install_as_aioca():
    """Make ``import aioca`` give epics_compat.aioca (and ``epicscorelibs.ca.dbr`` and
    ``.cadef`` its constants), so that aioca code and ophyd-async run without libca.
    See epics_compat.aioca.install."""
    from .aioca.install import install_as_aioca as install
    return install()
