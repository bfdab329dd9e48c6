"""The pyepics ``epics.pv`` API: the ``PV`` object, ``get_pv`` and its cache, ``fmt_time``.

A ``PV`` keeps the last value and metadata of one channel in ``PV._args`` (the dict that
becomes the keyword arguments of every user callback, as in pyepics), subscribes to value
changes automatically when the array is small enough, and caches CTRL metadata (limits,
units, precision, enum strings) once fetched.

Connection, access-rights and monitor events all arrive on the context's callback thread.
A user thread that waits for a connection blocks on an event, not on a polling loop; a
callback that itself waits for a new PV to connect runs that PV's connection handling in
place, so waiting inside a callback never deadlocks.

``PV`` here is the connection, the automatic monitor, get and put; its other halves are
bases of their own: the user callbacks (``_pv_callbacks``) and the metadata properties
with the fetching of TIME and CTRL data and the text form of the value
(``_pv_metadata``). The cainfo report is in ``_pv_report``, and running a PV's methods
in its own context in ``_pv_context``.
"""
from __future__ import annotations

import logging
import sys
import time
import warnings
from types import SimpleNamespace

from . import ca, dbr
from ._pv_callbacks import PVCallbacks
from ._pv_context import ensure_context, in_callback_thread, settle_callbacks
from ._pv_metadata import PVMetadata, type_name
from ._pv_report import cainfo_report, fmt_time
from .sync import Flag

logger = logging.getLogger("epics_compat.pv")

#: The PVs made by get_pv(), by (pvname, form, context).
_PVcache_: dict = {}

#: Seconds the first get() of a monitored PV waits for the subscription's first update
#: (which servers send at once) when no timeout is given, or after an explicit read of
#: another type or count, so that the update applies first.
FIRST_UPDATE_WAIT = 1.0

_ACCESS_STRINGS = ('no access', 'read-only', 'write-only', 'read/write')


def get_pv(pvname, form='time', connect=False, context=None, timeout=5.0,
           connection_callback=None, access_callback=None, callback=None,
           verbose=False, count=None, auto_monitor=None, monitor_delta=None):
    """The cached PV for (pvname, form) in the current context, made if needed.

    A PV found in the cache gets the new callbacks added (and run at once when it is
    already connected) and starts monitoring if ``auto_monitor`` asks for it. With
    ``connect=True`` this waits up to ``timeout`` seconds for the connection.
    """
    if form not in ('native', 'time', 'ctrl'):
        form = 'time'
    if context is not None:
        warnings.warn("get_pv(context=...) is deprecated: it only selects a PV already "
                      "cached for that context; new PVs are made in the current context.",
                      stacklevel=2)
    else:
        if ca.current_context() is None:
            ca.use_initial_context()
        context = ca.current_context()

    name = pvname.pvname if isinstance(pvname, default_pv_class) else pvname
    key = (name, form, context)
    thispv = _PVcache_.get(key)
    if thispv is None:
        if context != ca.current_context():
            raise RuntimeError(f"get_pv: no PV {name!r} (form {form!r}) is cached for "
                               f"context {context!r}, and new PVs are made only in the "
                               f"current context ({ca.current_context()!r})")
        thispv = default_pv_class(name, form=form, callback=callback,
                                  connection_callback=connection_callback,
                                  access_callback=access_callback,
                                  connection_timeout=timeout, count=count,
                                  verbose=verbose, auto_monitor=auto_monitor,
                                  monitor_delta=monitor_delta)
        _PVcache_[key] = thispv
    else:
        if connection_callback is not None:
            if thispv.connected:
                connection_callback(pvname=thispv.pvname, conn=thispv.connected, pv=thispv)
            thispv.connection_callbacks.append(connection_callback)
        if access_callback is not None:
            if thispv.connected:
                access_callback(thispv.read_access, thispv.write_access, pv=thispv)
            thispv.access_callbacks.append(access_callback)
        if callback is not None:
            thispv.run_callback(thispv.add_callback(callback))
        if auto_monitor and not thispv.auto_monitor:
            thispv.auto_monitor = auto_monitor

    if connect and not thispv.wait_for_connection(timeout=timeout):
        ca.write(f'cannot connect to {name}')
    return thispv


def _length(value) -> int:
    """len() of a value kept by a PV; 1 for a scalar."""
    try:
        return len(value)
    except TypeError:
        return 1


def clear_pvcache():
    """Disconnect and forget every PV made by get_pv() (ca.clear_cache() calls this).

    The CA channels themselves stay open in ``ca``'s cache. Not thread safe.
    """
    global _PVcache_
    old, _PVcache_ = _PVcache_, {}
    for thispv in list(old.values()):
        thispv.disconnect()
    old.clear()


ca.register_clear_cache(clear_pvcache)


class PV(PVCallbacks, PVMetadata):
    """An EPICS Process Variable: one named channel, its value and its metadata.

    >>> p = PV('XX:m1.VAL')    # connects in the background
    >>> p.get()                # the value (from the monitor once subscribed)
    >>> p.put(1.5, wait=True)  # write, and wait for processing to complete
    >>> p.char_value, p.units, p.severity, p.timestamp, p.count, p.type

    ``form`` is 'time' (value with status, severity and timestamp), 'ctrl' (with
    limits, units, precision, enum strings) or 'native' (value only). Callbacks
    (``callback=`` or add_callback()) run on every monitor update with the keyword
    arguments ``pvname``, ``value``, ``char_value``, ``status``, ``severity``,
    ``timestamp``, ``type``, ``count``, ... and ``cb_info=(index, pv)``: give them
    ``**kws``.
    """

    _fmtsca = "<PV '%(pvname)s', count=%(count)i, type=%(typefull)s, access=%(access)s>"
    _fmtarr = ("<PV '%(pvname)s', count=%(count)i/%(nelm)i, type=%(typefull)s, "
               "access=%(access)s>")
    _fields = ('pvname', 'value', 'char_value', 'status', 'ftype', 'chid',
               'host', 'count', 'access', 'write_access', 'read_access',
               'severity', 'timestamp', 'posixseconds', 'nanoseconds',
               'precision', 'units', 'enum_strs', 'monitor_delta',
               'upper_disp_limit', 'lower_disp_limit', 'upper_alarm_limit',
               'lower_alarm_limit', 'lower_warning_limit',
               'upper_warning_limit', 'upper_ctrl_limit', 'lower_ctrl_limit')

    def __init__(self, pvname, callback=None, form='time', verbose=False,
                 auto_monitor=None, count=None, connection_callback=None,
                 connection_timeout=None, access_callback=None, monitor_delta=None):
        # Flags, not threading.Events: two Events cost ~2 kB a PV, most never waited on.
        self._conn_event = Flag()
        self._first_update = Flag()  # set by the monitor's updates
        # True after a put(wait=True) on a monitored PV: the next get() asks the server
        # instead of trusting the cached value (see _after_put_wait).
        self._unconfirmed_put = False
        self._conn_done_inline = False
        self.pvname = pvname.strip()
        self.form = sys.intern(form.lower())  # one string for all PVs of a form
        self.verbose = verbose
        self._auto_monitor = auto_monitor
        self.ftype = None
        self.connected = False
        self.connection_timeout = connection_timeout
        if self.connection_timeout is None:
            self.connection_timeout = ca.DEFAULT_CONNECTION_TIMEOUT
        self._user_max_count = count

        self._args = dict.fromkeys(self._fields)
        self._args.update(pvname=self.pvname, count=count, nelm=-1, type='unknown',
                          typefull='unknown', access='unknown', monitor_delta=monitor_delta)

        # The callback containers are made when first used (see made_when_used).
        self._connection_callbacks = [connection_callback] \
            if connection_callback is not None else None
        self._access_callbacks = [access_callback] if access_callback is not None else None
        callbacks = {}
        if isinstance(callback, (tuple, list)):
            for index, func in enumerate(callback):
                if callable(func):
                    callbacks[index] = (func, {})
        elif callable(callback):
            callbacks[0] = (callback, {})
        self._callbacks = callbacks or None

        self._put_complete = None
        self._monref = None  # what ca.create_subscription returned for the auto-monitor
        self._monref_mask = None
        self._conn_started = False

        self.chid = None
        if ca.current_context() is None:
            ca.use_initial_context()
        self.context = ca.current_context()

        self._args['chid'] = ca.create_channel(self.pvname, callback=self.__on_connect)
        self.chid = self._args['chid']
        ca.replace_access_rights_event(self.chid, callback=self.__on_access_rights_event)
        self.ftype = ca.promote_type(self.chid, use_ctrl=self.form == 'ctrl',
                                     use_time=self.form == 'time')
        self._args['type'] = type_name(self.ftype)

    # --- connection -------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the channel is connected and the PV has taken note of it."""
        return self._conn_event.is_set()

    @connected.setter
    def connected(self, value):
        self._connected = value
        if value:
            self._conn_event.set()
        else:
            self._conn_event.clear()

    @ensure_context
    def force_connect(self, pvname=None, chid=None, conn=True, **kws):
        """Run the connection handling now, as if the connection event had arrived."""
        if chid is None:
            chid = self.chid
        if hasattr(chid, 'value'):
            chid = chid.value
        self._args['chid'] = self.chid = chid
        self.__on_connect(pvname=pvname, chid=chid, conn=conn, **kws)

    @ensure_context
    def force_read_access_rights(self):
        """Read the access rights from the channel, not from the last access event."""
        self._args['access'] = ca.access(self.chid)
        self._args['read_access'] = 1 == ca.read_access(self.chid)
        self._args['write_access'] = 1 == ca.write_access(self.chid)

    @ensure_context
    def __on_access_rights_event(self, read_access, write_access):
        self._args['read_access'] = read_access
        self._args['write_access'] = write_access
        self._args['access'] = _ACCESS_STRINGS[read_access + 2 * write_access]
        for func in list(self._access_callbacks or ()):
            if callable(func):
                func(read_access, write_access, pv=self)

    @ensure_context
    def __on_connect(self, pvname=None, chid=None, conn=True):
        """Connection events: note type and size, tell the user, start the monitor."""
        if self._conn_done_inline:
            # A callback waiting for this PV already did the work for this event.
            self._conn_done_inline = False
            if conn and self.connected:
                return
        if self.chid is None and chid is None:
            return
        if pvname is not None and self.pvname is None:
            self.pvname = pvname
        if conn:
            number = chid.value if hasattr(chid, 'value') else chid
            if not (isinstance(self.chid, dbr.chid_t) and self.chid.value == number):
                self.chid = dbr.chid_t(number)  # else keep it: a ctypes long is 136 bytes
            self._args['chid'] = self.chid
            nelm = ca.element_count(self.chid)
            self._args['nelm'] = nelm
            self._args['count'] = min(nelm, self._user_max_count or nelm)
            self._args['host'] = ca.host_name(self.chid)
            self.ftype = ca.promote_type(self.chid, use_ctrl=self.form == 'ctrl',
                                         use_time=self.form == 'time')
            typename = type_name(self.ftype)
            self._args['type'] = typename
            self._args['typefull'] = typename
            self._args['ftype'] = dbr.Name(typename, reverse=True)

        for func in list(self._connection_callbacks or ()):
            if callable(func):
                func(pvname=self.pvname, conn=conn, pv=self)
            elif not conn and self.verbose:
                ca.write(f"PV '{self.pvname}' disconnected.")

        self.force_read_access_rights()
        # Only now: a waiting thread must see a PV whose connection handling is done,
        # its subscription included (so that its first update precedes any reply to a
        # get that thread sends next).
        self._connected = conn
        if conn:
            self._check_auto_monitor()
        self.connected = conn

    def _wait_for_own_connection(self, timeout) -> bool:
        """Wait until the connection handling has run (at most ``timeout`` seconds)."""
        if self.connected:
            return True
        if in_callback_thread(self.context):
            # Our connection event is queued behind the callback that is waiting: do
            # its work here once the channel is up, and let the queued one pass.
            if ca.connect_channel(self.chid, timeout=timeout) and not self.connected:
                self.__on_connect(pvname=self.pvname, chid=self.chid, conn=True)
                self._conn_done_inline = True
            return self.connected
        ca._wait(self._conn_event, max(0.0, timeout), self.context)
        return self.connected

    @ensure_context
    def wait_for_connection(self, timeout=None):
        """Wait up to ``timeout`` (connection_timeout) seconds for the PV to connect."""
        if not self.connected:
            start = time.monotonic()
            if not self._conn_started:
                self.connect(timeout=timeout)
            if not self.connected:
                if timeout is None:
                    timeout = self.connection_timeout
                self._wait_for_own_connection(timeout - (time.monotonic() - start))
        return self.connected

    @ensure_context
    def connect(self, timeout=None):
        """Wait for the channel to connect; True when connected (and typed)."""
        if not self.connected:
            if timeout is None:
                timeout = self.connection_timeout
            start = time.monotonic()
            if ca.connect_channel(self.chid, timeout=timeout):
                self._wait_for_own_connection(timeout - (time.monotonic() - start))
        self._conn_started = True
        return self.connected and self.ftype is not None

    def reconnect(self):
        """Drop the monitor, redo the connection handling and wait for the connection."""
        self._clear_auto_monitor_subscription()
        self.connected = False
        self._conn_started = False
        self.force_connect()
        return self.wait_for_connection()

    @ensure_context
    def poll(self, evt=1.e-4, iot=1.0):
        """Let pending callbacks run (ca.poll)."""
        ca.poll(evt=evt, iot=iot)

    # --- monitoring -------------------------------------------------------------------

    @ensure_context
    def _clear_auto_monitor_subscription(self):
        """Cancel the automatic subscription, if there is one."""
        if self._monref is None:
            return
        event_id = self._monref[2]
        self._monref = None
        self._monref_mask = None
        ca.clear_subscription(event_id)

    @ensure_context
    def _check_auto_monitor(self):
        """Subscribe, resubscribe or unsubscribe as ``auto_monitor`` says.

        auto_monitor None becomes True for fewer than ca.AUTOMONITOR_MAXLENGTH
        elements, False otherwise; True means ca.DEFAULT_SUBSCRIPTION_MASK; any other
        true value is the event mask itself.
        """
        if not self._connected or self.chid is None:
            return  # done again on connection
        count = self.count
        if count is None:
            return
        if self._auto_monitor is None:
            self._auto_monitor = count < ca.AUTOMONITOR_MAXLENGTH
        if not self._auto_monitor:
            return self._clear_auto_monitor_subscription()
        mask = ca.DEFAULT_SUBSCRIPTION_MASK if self._auto_monitor is True \
            else self._auto_monitor
        if self._monref is not None:
            if self._monref_mask == mask:
                return
            self._clear_auto_monitor_subscription()
        # monitor_delta is kept in _args but, as in pyepics 3.5, neither written to
        # the record's MDEL field nor applied here.
        self._monref_mask = mask
        self._first_update.clear()
        # The PV's own type (promoted already): create_subscription's lookups of the
        # channel's native type and state are a fifth of its cost.
        self._monref = ca._subscribe(self.chid, ftype=self.ftype, mask=mask,
                                     count=self._user_max_count or 0, owner=self)

    @property
    def auto_monitor(self):
        """None: monitor arrays shorter than ca.AUTOMONITOR_MAXLENGTH; False: never;
        True: with ca.DEFAULT_SUBSCRIPTION_MASK; a dbr.DBE_* mask: with that mask."""
        return self._auto_monitor

    @auto_monitor.setter
    @ensure_context
    def auto_monitor(self, value):
        self._auto_monitor = value
        self._check_auto_monitor()

    @property
    def auto_monitor_mask(self):
        """The event mask of the automatic subscription (None when not monitoring)."""
        return self._monref_mask

    @ensure_context
    def clear_auto_monitor(self):
        """Stop monitoring: get() asks the server from now on."""
        self.auto_monitor = False

    # The auto-monitor calls the next three (see ca._subscribe).

    def _monitor_update(self, value, kwd):
        """Monitor updates, on the callback thread: keep value and metadata (the keyword
        arguments of a monitor callback, as a dict), then run the user callbacks."""
        self._keep_update(value, kwd)
        if self.verbose:
            ca.write(f"{self.pvname}: {self._args['char_value']} "
                     f"({fmt_time(self._args['timestamp'])})")
        self.run_callbacks()

    def _may_keep_at_once(self):
        """Whether an update can be kept by the thread that received it, leaving nothing
        for the callback thread: when there is nothing to call back. A put(wait=True)
        then finds its update kept when it returns, without waiting for that thread."""
        return not self._callbacks and not self.verbose \
            and type(self).run_callbacks is PVCallbacks.run_callbacks

    def _keep_update(self, value, kwd):
        args = self._args
        args.update(kwd)
        args['value'] = value
        # Without TIME metadata: now, and pyepics' zeros.
        if 'timestamp' not in kwd:
            args['timestamp'] = time.time()
        if 'posixseconds' not in kwd:
            args['posixseconds'] = 0
        if 'nanoseconds' not in kwd:
            args['nanoseconds'] = 0
        self._set_charval(value, call_ca=False)
        # Only now: a waiting get() must see this update done. Event.set takes a lock
        # even when set already (every update after the first): skip that.
        if not self._first_update.is_set():
            self._first_update.set()

    # --- values -----------------------------------------------------------------------

    def get(self, count=None, as_string=False, as_numpy=True, timeout=None,
            with_ctrlvars=False, use_monitor=True):
        """The value: from the monitor when there is one, else asked from the server.

        count: at most this many elements; as_string: the char_value form; as_numpy:
        arrays as numpy arrays; timeout: seconds to wait for the value; use_monitor:
        False asks the server even when monitoring. None if not connected or timed out;
        raises ca.ChannelAccessGetFailure if the server reports a failure.
        """
        if count is None and use_monitor and not as_string and not with_ctrlvars \
                and self._monref is not None and not self._unconfirmed_put \
                and self._args['nelm'] == 1 and self._conn_event.is_set() \
                and type(self).get_with_metadata is PV.get_with_metadata:
            # The common poll of a monitored scalar: the value the monitor keeps, as
            # get_with_metadata gives it, without its copy of the metadata (a subclass
            # that overrides get_with_metadata is called, as pyepics' get calls it).
            value = self._args['value']
            if value is not None:
                return value
        data = self.get_with_metadata(count=count, as_string=as_string, as_numpy=as_numpy,
                                      timeout=timeout, with_ctrlvars=with_ctrlvars,
                                      use_monitor=use_monitor)
        return data['value'] if data is not None else None

    @ensure_context
    def get_with_metadata(self, count=None, as_string=False, as_numpy=True,
                          timeout=None, with_ctrlvars=False, form=None,
                          use_monitor=True, as_namespace=False):
        """The value and its metadata as a dict (or SimpleNamespace with as_namespace).

        ``form`` ('native', 'time', 'ctrl') asks for another DBR family than the PV's
        own for this call; the other arguments are those of get().
        """
        if not self.wait_for_connection(timeout=timeout):
            return None
        if form is None:
            form = self.form
            ftype = self.ftype
        else:
            ftype = ca.promote_type(self.chid, use_ctrl=form == 'ctrl',
                                    use_time=form == 'time')
        if with_ctrlvars and getattr(self, 'units', None) is None and form == 'ctrl':
            self.get_ctrlvars()

        first_value = self._monref is not None and self._args['value'] is None
        if first_value and use_monitor and ftype == self.ftype and self._args['read_access'] \
                and not self._unconfirmed_put and not in_callback_thread(self.context):
            # The subscription's first update is on its way (servers send the value as
            # soon as it is made): wait for it instead of asking for the value again,
            # a read and its reply less for each new PV.
            ca._wait(self._first_update, FIRST_UPDATE_WAIT if timeout is None else timeout,
                     self.context)
            first_value = False  # waited already: a read, if needed now, does not wait
        if (not use_monitor or not self.auto_monitor or ftype != self.ftype
                or self._args['value'] is None or self._unconfirmed_put
                or (count is not None and count > _length(self._args['value']))):
            if count is None:
                # The count the PV was made with, as for its subscription. (pyepics takes
                # the element count of the last update: an array that has just grown came
                # back cut to its old length when the update was still on its way.)
                count = self._user_max_count
            metad = ca.get_with_metadata(self.chid, ftype=ftype, count=count,
                                         timeout=timeout, as_numpy=as_numpy)
            if metad is None:
                return None
            if first_value and not in_callback_thread(self.context):
                # The subscription's first update normally comes with this answer (the
                # server sends it at once): let its callback run first, as it would
                # with libca, so that this newer answer is what stays.
                ca._wait(self._first_update, FIRST_UPDATE_WAIT, self.context)
            if ftype == self.ftype:
                self._unconfirmed_put = False
            self._args.update(metad)
            if with_ctrlvars and form != 'ctrl':
                metad = self._args.copy()
            val = metad['value']
        else:
            metad = self._args.copy()
            val = self._args['value']

        if as_string:
            metad['value'] = self._set_charval(val, force_long_string=as_string)
        elif (self._args['nelm'] or 0) > 1 and val is not None:  # noted at connection
            try:
                len(val)
            except TypeError:
                val = [val]
            if count is None:
                count = len(val)
            if as_numpy and ca.HAS_NUMPY and not isinstance(val, ca.numpy.ndarray):
                val = ca.numpy.asarray(val)
            elif not as_numpy and ca.HAS_NUMPY and isinstance(val, ca.numpy.ndarray):
                val = val.tolist()
            if count < len(val):
                val = val[:count]
            metad['value'] = val

        if as_namespace:
            return SimpleNamespace(**metad)
        return metad

    @ensure_context
    def put(self, value, wait=False, timeout=30.0, use_complete=False, callback=None,
            callback_data=None):
        """Write ``value``; returns 1 (or -1 if ``wait`` timed out), None if unconnected.

        wait: block until the server reports that processing completed; use_complete:
        don't block, but set put_complete when it has; callback(pvname=, data=) (or
        the items of a dict callback_data) runs at completion. Enum PVs take their
        strings too.
        """
        if not self.wait_for_connection():
            return None
        if self.ftype in (dbr.ENUM, dbr.TIME_ENUM, dbr.CTRL_ENUM) and isinstance(value, str):
            if self._args['enum_strs'] is None:
                self.get_ctrlvars()
            strings = self._args['enum_strs'] or ()
            if value in strings:
                value = list(strings).index(value)

        def on_complete(pvname=None, **kws):
            self._put_complete = True
            if callback is not None:
                callback(pvname=pvname, **kws)

        self._put_complete = False if use_complete else None
        updated_before = self._first_update.is_set()
        status = ca.put(self.chid, value, wait=wait, timeout=timeout,
                        callback=on_complete if (use_complete or callback) else None,
                        callback_data=callback_data)
        if wait and status == 1 and self._monref is not None \
                and not in_callback_thread(self.context):
            self._after_put_wait(updated_before)
        return status

    def _after_put_wait(self, updated_before: bool) -> None:
        """After a completed put: the updates received before the completion have been
        applied (as with libca, whose receiving thread runs them in order), and the next
        get() gives the value the put left.

        Servers send a put's monitor update from another thread than its completion, so
        it may come after the completion, even after the completion of the next put; an
        update cannot say which put it follows. So the next get() (or a property of the
        value) reads the value from the server, once. If the put went out before the
        subscription's first update arrived, that update (older than the put) may still
        be on its way: wait for it, then read the value from the server now.
        """
        if updated_before:
            settle_callbacks(self.context)
            self._unconfirmed_put = True
            return
        ca._wait(self._first_update, FIRST_UPDATE_WAIT, self.context)
        settle_callbacks(self.context)
        # The count the PV was made with, as get_with_metadata reads: the update's own
        # count (in _args) is that of the value before the put.
        metadata = ca.get_with_metadata(self.chid, ftype=self.ftype,
                                        count=self._user_max_count,
                                        timeout=FIRST_UPDATE_WAIT)
        if metadata is not None:
            self._args.update(metadata)

    def _getinfo(self):
        """The multi-line report that cainfo() prints."""
        return cainfo_report(self)

    def __getval__(self):
        return self._getarg('value')

    def __setval__(self, val):
        return self.put(val)

    value = property(__getval__, __setval__, None,
                     "The value: reading is get(), assigning is put() without wait.")

    @property
    def char_value(self):
        """The value as text: enum string, float with PREC digits, char array as str."""
        self._getarg('char_value')
        return self._set_charval(self._getarg('value'))

    @property
    def info(self):
        """The cainfo() report of this PV, as a string."""
        return self._getinfo()

    @property
    def put_complete(self):
        """After put(use_complete=True): False until processing completed, then True."""
        return self._put_complete

    def __repr__(self):
        if not self.connected:
            return f"<PV '{self.pvname}': not connected>"
        fmt = self._fmtsca if self.count == 1 else self._fmtarr
        return fmt % self._args

    def __eq__(self, other):
        try:
            return ca._chid_to_int(self.chid) == ca._chid_to_int(other.chid)
        except AttributeError:
            return False

    # Mutable, compared by channel: unhashable, as in pyepics.
    __hash__ = None  # type: ignore[assignment]

    @ensure_context
    def disconnect(self, deepclean=True):
        """Forget this PV: drop its callbacks, its monitor and its get_pv() cache entry.

        The CA channel stays open for reuse (ca.clear_channel() closes it). With
        ``deepclean`` the PV's handlers are also removed from the channel's cache entry
        so the PV can be garbage collected.
        """
        self._disconnect(deepclean)
        ca.poll(evt=1.e-3, iot=1.0)

    def _disconnect(self, deepclean=True):
        self.connected = False
        context = ca.current_context()
        _PVcache_.pop((self.pvname, self.form, context), None)
        if deepclean:
            entry = ca._cache[context].get(self.pvname, None)
            if entry is not None:
                for handlers, mine in ((entry.callbacks, self.__on_connect),
                                       (entry.access_event_callback,
                                        self.__on_access_rights_event)):
                    while mine in handlers:
                        handlers.remove(mine)
        if self._monref is not None:
            self._clear_auto_monitor_subscription()
        self._monref = None
        self._monref_mask = None
        self.clear_callbacks(True, True)
        self._args = dict.fromkeys(self._fields)

    def __del__(self):
        if getattr(ca, 'libca', None) is None or getattr(self, 'context', None) is None:
            return
        try:
            self._disconnect()
        except Exception:
            pass


#: The class get_pv() makes; advanced users may replace it with a subclass.
default_pv_class = PV
