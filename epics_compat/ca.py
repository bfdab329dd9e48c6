"""The pyepics ``epics.ca`` API on epics_compat's own Channel Access client.

Same names, signatures, defaults, return values and exceptions as pyepics 3.5; channel
ids are ``dbr.chid_t`` (ctypes longs) as there. Underneath there is no libca: a
``_context.Context`` per CA context does the I/O on its own thread and runs callbacks on
another (pyepics' preemptive-callback mode, the only mode here).
"""
from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import functools
import itertools
import logging
import os
import sys
import threading
import time
import warnings
from collections import defaultdict
from collections.abc import Mapping
from math import log10
from typing import Callable, Dict

import caproto_core as _core

from . import dbr
from ._channels import READ_ACCESS, WRITE_ACCESS
from ._context import CS_CONN, ChannelAccessError, Context, Pending, WriteAccessDenied
from ._large_buffers import allocate
from .dbr import HAS_NUMPY, numpy
from .sync import made_when_used
from .utils import clib_search_path  # noqa: F401 - pyepics' ca has it too

logger = logging.getLogger("epics_compat.ca")

PREEMPTIVE_CALLBACK = True
AUTO_CLEANUP = True
WITH_CA_MESSAGES = False
#: Arrays up to this many elements are monitored automatically by PV objects.
AUTOMONITOR_MAXLENGTH = 65536
DEFAULT_CONNECTION_TIMEOUT = 2.0
DEFAULT_SUBSCRIPTION_MASK = dbr.DBE_VALUE | dbr.DBE_ALARM
IOENCODING = 'utf-8'
#: libca's limit for a name and its terminating NUL (one UDP search less its header).
MAX_PVNAME_BYTES = 1008

_LIBCA_FINALIZED = object()
#: Set by initialize_libca(); a stand-in object, since no C library is loaded.
libca = None
initial_context = None

_cache: Dict[int, dict] = defaultdict(dict)  # context id -> {pvname: _CacheItem}
_chid_cache: Dict[int, "_CacheItem"] = {}
_contexts: Dict[int, Context] = {}


class _ThreadContext(threading.local):
    """The context attached to each thread (``id``; None: not attached)."""
    # A class default: the lookup of an attribute that a thread's local never set raises
    # and catches an AttributeError inside getattr, a third of a microsecond; PV methods
    # (and with them every monitor update of a PV) look the context up at each call.
    id = None


_thread_context = _ThreadContext()
_init_lock = threading.RLock()
_clear_cache_callbacks: Dict[int, Callable[[], None]] = {}


def write(msg, newline=True, flush=True):
    """Write a message to standard output (pyepics' hook for its own messages)."""
    sys.stdout.write(msg + ("\n" if newline else ""))
    if flush:
        sys.stdout.flush()


def str2bytes(st1):
    """A str as bytes (IOENCODING); bytes unchanged, as pyepics.utils."""
    return st1 if isinstance(st1, bytes) else bytes(st1, IOENCODING)


def bytes2str(st1):
    """Bytes as a str (IOENCODING); anything else through str(), as pyepics.utils."""
    return str(st1, IOENCODING) if isinstance(st1, bytes) else str(st1)


def strjoin(sep, seq):
    """Join strings (or bytes, up to a NUL) with a separator, as pyepics.utils."""
    sep = bytes2str(sep)
    if len(seq) and isinstance(seq[0], bytes):
        seq = [bytes2str(item) for item in itertools.takewhile(lambda b: b != b'\x00', seq)]
    return sep.join(seq)


class _GetPending:
    """Marks a get that was sent and not yet answered."""

    def __repr__(self):
        return 'GET_PENDING'


Empty = _GetPending
GET_PENDING = _GetPending()


class ChannelAccessException(Exception):
    """Channel Access Exception: General Errors"""


class ChannelAccessGetFailure(Exception):
    """A get was answered with a failure status."""

    def __init__(self, message, chid, status):
        super().__init__(message)
        self.chid = chid
        self.status = status


class CASeverityException(Exception):
    """A CA call returned a status other than the expected one."""

    def __init__(self, fcn, msg):
        Exception.__init__(self)
        self.fcn = fcn
        self.msg = msg

    def __str__(self):
        return " %s returned '%s'" % (self.fcn, self.msg)


# pyepics lets ctypes raise TypeError, ValueError or OverflowError for a value it cannot
# put; these are those exceptions too, so code written for pyepics still catches them.
class _PutTypeError(ChannelAccessException, TypeError):
    """A value of a type that cannot be put to the PV."""


class _PutValueError(ChannelAccessException, ValueError):
    """A value that cannot be converted to the PV's type."""


class _PutOverflowError(ChannelAccessException, OverflowError):
    """A number too large for the PV's type."""


class _InvalidNameError(CASeverityException, ValueError):
    """A PV name that cannot be searched for (libca's 'Invalid string')."""


class _InvalidRequestError(CASeverityException, ValueError):
    """A type, count or mask libca refuses (ECA_BADTYPE, ECA_BADCOUNT, ECA_BADMASK)."""


class _LibcaStandIn:
    """What ``ca.libca`` holds here: there is no C library, only this pure-Python client."""

    def __repr__(self):
        return "<epics_compat: pure-Python Channel Access client, no libca>"


def _no_result():
    return [None]


class _CacheItem:
    """The state of one channel of one context, as pyepics keeps it.

    Slotted, and ``get_results`` made at the first get: with 2,000 monitored PVs the
    entries' instance dicts and unused result dicts were ~0.3 kB a channel.
    """
    __slots__ = ('context', 'lock', 'conn', 'pvname', 'ts', 'failures', '_get_results',
                 'callbacks', 'access_event_callback', 'chid', 'channel')

    def __init__(self, chid, pvname, channel, callbacks=None, ts=0):
        self.context = current_context()
        self.lock = threading.RLock()
        self.conn = False
        self.pvname = pvname
        self.ts = ts
        self.failures = 0
        self._get_results = None
        self.callbacks = list(callbacks or [])
        self.access_event_callback = []
        self.chid = chid
        self.channel = channel

    get_results = made_when_used(
        '_get_results', functools.partial(defaultdict, _no_result),
        "Requested field type -> [GET_PENDING, Pending] while in flight, then [Pending].")

    def __repr__(self):
        return ('<{} {!r} {} failures={} callbacks={} access_callbacks={} chid={}>'.format(
            type(self).__name__, self.pvname, 'connected' if self.conn else 'disconnected',
            self.failures, len(self.callbacks), len(self.access_event_callback),
            self.chid_int))

    def __getitem__(self, key):
        return getattr(self, key)

    @property
    def chid_int(self):
        return _chid_to_int(self.chid)

    def run_access_event_callbacks(self, ra, wa):
        for callback in list(self.access_event_callback):
            if callable(callback):
                callback(ra, wa)

    # The context tells the entry (the listener of its channel) of changes.

    def connection_noted(self, connected):
        """On the I/O thread, at each connection change: whether the callbacks are to
        run (``channel_connection``, on the dispatcher)."""
        self.conn = connected
        self.ts = time.time()
        self.failures = 0
        # Looked at after conn is set: a callback that create_channel adds meanwhile
        # runs from there or from the dispatcher, not from neither.
        return bool(self.callbacks or self.access_event_callback)

    def channel_connection(self, channel, connected):
        self.run_connection_callbacks(conn=connected, timestamp=time.time())

    def channel_access(self, channel, read, write):
        self.run_access_event_callbacks(read, write)

    def run_connection_callbacks(self, conn, timestamp):
        with self.lock:
            self.conn = conn
            self.ts = timestamp
            self.failures = 0
        for callback in list(self.callbacks):
            if callable(callback):
                callback(pvname=self.pvname, chid=self.chid_int, conn=self.conn)


# --- library and contexts ---------------------------------------------------------------

def find_lib(inp_lib_name='ca'):
    """The path of EPICS base's C library ``inp_lib_name`` ('ca' or 'Com'), if present.

    epics_compat loads no C library; this answers programs that ask where one is. It
    looks where pyepics does, less pyepics' own bundled copies: ``PYEPICS_LIBCA`` (and
    other libraries beside it), epicscorelibs when already imported, then the system's
    library search. Like pyepics, it raises ChannelAccessException when none is found.
    """
    configured = os.environ.get('PYEPICS_LIBCA')
    if configured is not None and inp_lib_name != 'ca':
        folder, name = os.path.split(configured)
        configured = os.path.join(folder, name.replace('ca', inp_lib_name))
    if configured is not None and os.path.isfile(configured):
        return configured
    if 'epicscorelibs' in sys.modules:
        try:
            from epicscorelibs.lib import Com_dsoinfo, ca_dsoinfo
            return (ca_dsoinfo if inp_lib_name == 'ca' else Com_dsoinfo).filename
        except (ImportError, AttributeError):
            pass
    found = ctypes.util.find_library(inp_lib_name)
    if found is not None:
        return found
    raise ChannelAccessException('cannot find Epics CA DLL')


def find_libca():
    """No libca is used: a description of what provides Channel Access instead."""
    return "epics_compat (pure Python; no libca needed)"


def find_libCom():
    return "epics_compat (pure Python; no libCom needed)"


def initialize_libca():
    """Create the initial context (done automatically on first use)."""
    global libca, initial_context
    with _init_lock:
        if libca is not None and libca is not _LIBCA_FINALIZED:
            return libca
        if 'EPICS_CA_MAX_ARRAY_BYTES' not in os.environ:
            os.environ['EPICS_CA_MAX_ARRAY_BYTES'] = "%d" % 2 ** 24
        context = Context(preemptive=PREEMPTIVE_CALLBACK)
        _contexts[context.id] = context
        initial_context = context.id
        _thread_context.id = context.id
        libca = _LibcaStandIn()
        if AUTO_CLEANUP:
            atexit.register(finalize_libca)
        return libca


def finalize_libca(maxtime=10.0):
    """Clear every channel and destroy every context."""
    global libca, initial_context
    if libca is None or libca is _LIBCA_FINALIZED:
        return
    for chid in list(_chid_cache):
        try:
            clear_channel(chid)
        except Exception:
            pass
    _chid_cache.clear()
    _cache.clear()
    for context in list(_contexts.values()):
        context.destroy()
    _contexts.clear()
    initial_context = None
    libca = _LIBCA_FINALIZED


def _after_fork_in_child():
    """A forked child must not share its parent's sockets: start afresh on next use."""
    global libca, initial_context
    for context in _contexts.values():
        context.abandon()
    _contexts.clear()
    _cache.clear()
    _chid_cache.clear()
    _thread_context.__dict__.clear()
    libca = None
    initial_context = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def withCA(fcn):
    """Decorator: make sure the library and a context exist before the call."""
    @functools.wraps(fcn)
    def wrapper(*args, **kwds):
        if libca is None:
            initialize_libca()
        elif libca is _LIBCA_FINALIZED:
            return None  # interpreter shutdown: quietly do nothing
        return fcn(*args, **kwds)
    return wrapper


def _wait(flag, timeout, context_id=None) -> bool:
    """``flag.wait(timeout)``; in a non-preemptive context, running the callbacks that are
    waiting meanwhile (one of them may set the flag), as libca does in its blocking calls."""
    try:
        dispatcher = _context_object(context_id).dispatcher
    except ChannelAccessException:
        return flag.wait(timeout)
    return dispatcher.wait(flag, timeout)


def _run_waiting_callbacks(context: Context) -> None:
    """In a non-preemptive context, run the callbacks that wait, on this thread: libca
    runs them inside its blocking calls (a put with wait, a get, a connection wait)."""
    dispatcher = context.dispatcher
    if not dispatcher.threaded and not dispatcher.in_dispatch_thread():
        dispatcher.run_for(0)


def _context_object(context_id=None) -> Context:
    """The Context of the calling thread (the initial one unless another is attached)."""
    if libca is None:
        initialize_libca()
    if context_id is None:
        context_id = getattr(_thread_context, "id", None) or initial_context
    context = _contexts.get(context_id)
    if context is None:
        raise ChannelAccessException("no Channel Access context: it was destroyed")
    return context


def PySEVCHK(func_name, status, expected=dbr.ECA_NORMAL):
    """Raise CASeverityException unless ``status`` is ``expected``."""
    if status == expected:
        return status
    raise CASeverityException(func_name, message(status))


def withSEVCHK(fcn):
    @functools.wraps(fcn)
    def wrapper(*args, **kwds):
        return PySEVCHK(fcn.__name__, fcn(*args, **kwds))
    return wrapper


@withCA
def context_create(ctx=None):
    """Create a new context and attach it to the calling thread.

    Like ca_context_create, this does nothing if the thread is attached to a context.
    """
    if getattr(_thread_context, "id", None) in _contexts:
        return dbr.ECA_NORMAL
    context = Context(preemptive=PREEMPTIVE_CALLBACK)
    _contexts[context.id] = context
    _thread_context.id = context.id
    return dbr.ECA_NORMAL


def create_context(ctx=None):
    """Create a new context and attach it to the calling thread."""
    context_create(ctx)


@withCA
def context_destroy():
    """Destroy the calling thread's context (its channels are cleared)."""
    context_id = current_context()
    context = _contexts.pop(context_id, None)
    if context is None:
        return None
    for pvname, entry in list(_cache.pop(context_id, {}).items()):
        _chid_cache.pop(entry.chid_int, None)
    context.destroy()
    _thread_context.id = None
    return dbr.ECA_NORMAL


def destroy_context():
    """Destroy the calling thread's context."""
    return context_destroy()


@withCA
def attach_context(context):
    """Attach the calling thread to a context (an id from current_context())."""
    if hasattr(context, 'value'):
        context = context.value
    if context not in _contexts:
        return dbr.ECA_BADCHID
    if getattr(_thread_context, "id", None) not in (None, context):
        return dbr.ECA_ISATTACHED
    _thread_context.id = context
    return dbr.ECA_NORMAL


@withCA
@withSEVCHK
def use_initial_context():
    """Attach the calling thread to the initial context (recommended for threads)."""
    _thread_context.id = initial_context
    return dbr.ECA_NORMAL


@withCA
def detach_context():
    """Detach the calling thread from its context."""
    _thread_context.id = None
    return dbr.ECA_NORMAL


@withCA
def current_context():
    """The id of the calling thread's context."""
    return _current_context_id()


def _current_context_id():
    """current_context(), for callers that know the library is loaded (a PV's methods)."""
    context_id = getattr(_thread_context, "id", None)
    return context_id if context_id in _contexts else initial_context


@withCA
def client_status(context, level):
    """Print a summary of a context (its circuits and channels); returns ECA_NORMAL."""
    ctx = _contexts.get(context.value if hasattr(context, 'value') else context)
    if ctx is not None:
        write(repr(ctx))
        for circuit in list(ctx.circuits.values()):
            write("  %r channels=%d" % (circuit, len(circuit.channels)))
    return dbr.ECA_NORMAL


#: What receives the messages libca would print (set by replace_printf_handler).
ca_printf = ''


class _PrintfHandler(logging.Handler):
    """Hands this client's warnings and errors, the messages libca prints, to a writer."""

    def __init__(self, writer):
        super().__init__(logging.WARNING)
        self.writer = writer

    def emit(self, record):
        try:
            self.writer(self.format(record) + '\n')
        except Exception:
            self.handleError(record)


_CA_LOGGERS = (logging.getLogger('epics_compat'), logging.getLogger('caproto_core'))


@withCA
def replace_printf_handler(writer=None):
    """Send the messages that libca would print (this client's warnings and errors, from
    the ``epics_compat`` and ``caproto_core`` loggers) to ``writer(text)``; None drops
    them. They are logged as usual meanwhile."""
    global ca_printf
    if writer is None:
        writer = _swallow
    if not callable(writer):
        raise ChannelAccessException("argument to replace_printf_handler() must be callable")
    handler = _PrintfHandler(writer)
    for log in _CA_LOGGERS:
        if isinstance(ca_printf, _PrintfHandler):
            log.removeHandler(ca_printf)
        log.addHandler(handler)
    ca_printf = handler
    return dbr.ECA_NORMAL


def _swallow(*args):
    pass


@withCA
def disable_ca_messages():
    """Drop the messages libca would print: ``replace_printf_handler(None)``."""
    return replace_printf_handler(None)


@withCA
def enable_ca_messages(writer='stderr'):
    """Print libca's messages with ``writer``: a callable, 'stderr' or 'stdout'."""
    if writer == 'stderr':
        writer = sys.stderr.write
    elif writer == 'stdout':
        writer = sys.stdout.write
    return replace_printf_handler(writer)


@withCA
def flush_io():
    """Requests are written when made; nothing is ever buffered to flush."""
    return dbr.ECA_NORMAL


@withCA
def message(status):
    """The text of a CA status code: libca looks up only its message number (bits 3-15)."""
    text = _ECA_TEXT_BY_NUMBER.get((int(status) & 0xFFF8) >> 3)
    return text or "new CA message number known only by server - see caerr.h"


_ECA_TEXT_BY_NUMBER = {(int(code) & 0xFFF8) >> 3: _core.eca_message(code)
                       for code in _core.EcaStatus}


@withCA
def version():
    """The protocol version string, as libca gives it."""
    return "4.%d" % _core.PROTOCOL_VERSION


@withCA
def pend_io(timeout=1.0):
    """Nothing is deferred here, so outstanding I/O is always complete and this returns at
    once. Like libca's with nothing outstanding, it runs no callbacks in a non-preemptive
    context: those wait for pend_event() or poll()."""
    _context_object()
    return dbr.ECA_NORMAL


def pend_event(timeout=1.e-5):
    """Give callbacks ``timeout`` seconds to run; returns ECA_TIMEOUT like libca. In a
    non-preemptive context they run here, on this thread, for that long."""
    if libca is None:
        initialize_libca()
    elif libca is _LIBCA_FINALIZED:
        return None
    dispatcher = _context_object().dispatcher
    timeout = max(0.0, timeout)
    if not dispatcher.threaded:
        dispatcher.run_for(timeout)
        return dbr.ECA_TIMEOUT
    if not dispatcher.in_dispatch_thread():
        dispatcher.wait_idle(timeout)
    time.sleep(timeout)
    return dbr.ECA_TIMEOUT


@withCA
def poll(evt=1.e-5, iot=1.0):
    """Let pending callbacks run (pend_event) and complete I/O (pend_io)."""
    pend_event(evt)
    return pend_io(iot)


@withCA
def test_io():
    return True


# --- channels ---------------------------------------------------------------------------

def get_cache(pvname):
    """The _CacheItem of ``pvname`` in the current context, or None."""
    return _cache[current_context()].get(pvname, None)


def _get_cache_by_chid(chid):
    return _chid_cache[_chid_to_int(chid)]


def show_cache(print_out=True):
    """A listing of every channel of every context."""
    out = ['#  PVName        ChannelID/Context Connected?',
           '#--------------------------------------------']
    for context, entries in list(_cache.items()):
        for pvname, entry in list(entries.items()):
            out.append(" %s %s/%s  %s" % ((pvname + ' ' * 15)[:max(15, len(pvname))],
                                          repr(entry.chid), repr(context),
                                          entry.channel.state == CS_CONN))
    out = '\n'.join(out)
    if print_out:
        write(out)
        return None
    return out


def clear_cache():
    """Clear every channel and start a fresh context (as done for multiprocessing)."""
    for clear_other_cache in list(_clear_cache_callbacks.values()):
        clear_other_cache()
    for chid in list(_chid_cache):
        try:
            clear_channel(chid)
        except ChannelAccessException:
            pass
    _cache.clear()
    _chid_cache.clear()
    detach_context()
    create_context()


def register_clear_cache(callback: Callable[[], None]):
    """Call ``callback`` before clear_cache() clears the channels."""
    if callable(callback):
        _clear_cache_callbacks[id(callback)] = callback
    elif callback is not None:
        raise RuntimeError(f"Cannot register type {type(callback)}. Callable required.")


def _chid_to_int(chid):
    return int(chid.value) if hasattr(chid, 'value') else chid


def _entry(chid, fname):
    """The cache entry of a chid argument, or ChannelAccessException."""
    kind = type(chid)  # exact types first: this runs several times per ca call
    if kind is dbr.chid_t:
        key = chid.value
    elif kind is int:
        key = chid
    elif isinstance(chid, dbr.chid_t):
        key = chid.value
    elif isinstance(chid, int) and not isinstance(chid, bool):
        key = int(chid)
    else:
        raise ChannelAccessException("%s: not a valid chid %r %s" % (fname, chid, type(chid)))
    entry = _chid_cache.get(key)
    if entry is None:
        raise ChannelAccessException('Unexpected channel ID')
    return entry


def withCHID(fcn):
    """Decorator: the first argument must be a known channel id."""
    @functools.wraps(fcn)
    def wrapper(*args, **kwds):
        if libca is _LIBCA_FINALIZED:
            return None
        if args:
            args = (_entry(args[0], fcn.__name__).chid,) + tuple(args[1:])
        return fcn(*args, **kwds)
    return wrapper


def withConnectedCHID(fcn):
    """Decorator: the first argument must be a channel id that connects in time."""
    @functools.wraps(fcn)
    def wrapper(*args, **kwds):
        if libca is _LIBCA_FINALIZED:
            return None
        if args:
            entry = _entry(args[0], fcn.__name__)
            args = (entry.chid,) + tuple(args[1:])
            if entry.channel.state != CS_CONN:  # isConnected(), without its lookups
                timeout = kwds.get('timeout', DEFAULT_CONNECTION_TIMEOUT)
                if not connect_channel(entry.chid, timeout=timeout):
                    raise ChannelAccessException(
                        "%s() timed out waiting '%s' to connect (%d seconds)"
                        % (fcn.__name__, entry.pvname, timeout or DEFAULT_CONNECTION_TIMEOUT))
        return fcn(*args, **kwds)
    return wrapper


def withMaybeConnectedCHID(fcn):
    """Decorator: give the channel of the first argument a chance to connect."""
    @functools.wraps(fcn)
    def wrapper(*args, **kwds):
        if libca is _LIBCA_FINALIZED:
            return None
        if args:
            entry = _entry(args[0], fcn.__name__)
            args = (entry.chid,) + tuple(args[1:])
            if entry.channel.state != CS_CONN:  # isConnected(), without its lookups
                connect_channel(entry.chid,
                                timeout=kwds.get('timeout', DEFAULT_CONNECTION_TIMEOUT))
        return fcn(*args, **kwds)
    return wrapper


def withInitialContext(fcn):
    """Decorator: run the function in the initial context."""
    @functools.wraps(fcn)
    def wrapper(*args, **kwds):
        use_initial_context()
        return fcn(*args, **kwds)
    return wrapper


@withCA
def create_channel(pvname, connect=False, auto_cb=True, callback=None):
    """Create (or reuse) the channel for ``pvname``; returns its chid.

    ``callback(pvname=, chid=, conn=)`` runs on every connection change (at once if the
    channel is already connected).
    """
    if isinstance(pvname, bytes):
        pvname = pvname.decode()
    if not isinstance(pvname, str):
        raise TypeError("create_channel: a PV name must be a string, not %r" % (pvname,))
    if not pvname or len(pvname.encode()) + 1 > MAX_PVNAME_BYTES:
        # libca refuses these with ECA_BADSTR; say which name and why.
        raise _InvalidNameError(
            "create_channel(%r)" % (pvname if len(pvname) < 80 else pvname[:60] + '...'),
            "%s: PV names hold 1 to %d bytes" % (message(_core.EcaStatus.ECA_BADSTR),
                                                 MAX_PVNAME_BYTES - 1))
    context_id = current_context()
    context_cache = _cache[context_id]
    with _init_lock:
        entry = context_cache.get(pvname)
        is_new = entry is None
        if is_new:
            entry = _CacheItem(None, pvname, None,
                               callbacks=[callback] if callable(callback) else None)
            # The entry listens from the start, before the search: the connection
            # may complete before create_channel returns. Holding entry.lock makes its
            # connection handler (which takes it) wait for the chid.
            with entry.lock:
                channel = _context_object(context_id).create_channel(
                    pvname, listener=entry)
                entry.chid = dbr.chid_t(channel.chid)
                entry.channel = channel
                context_cache[pvname] = entry
                _chid_cache[channel.chid] = entry
    if not is_new and callable(callback) and callback not in entry.callbacks:
        entry.callbacks.append(callback)
        if entry.conn:
            callback(chid=entry.chid_int, pvname=pvname, conn=entry.conn)
    if connect:
        connect_channel(entry.chid)
    return entry.chid


@withCHID
def connect_channel(chid, timeout=None, verbose=False):
    """Wait up to ``timeout`` (DEFAULT_CONNECTION_TIMEOUT) for a channel to connect."""
    entry = _entry(chid, 'connect_channel')
    if verbose:
        write(' connect channel -> %r %r %r ' % (chid, state(chid), dbr.CS_CONN))
    if timeout is None:
        timeout = DEFAULT_CONNECTION_TIMEOUT
    conn = entry.channel.connected.wait(max(0.0, timeout))
    _run_waiting_callbacks(entry.channel.context)
    if not conn:
        with entry.lock:
            entry.ts = time.time()
            entry.failures += 1
    return conn


@withCHID
def replace_access_rights_event(chid, callback=None):
    """Add ``callback(read_access, write_access)`` to run when access rights change.

    As with libca, a connected channel's access handlers run at once (all of them, as
    pyepics runs every callback of the channel from its one libca handler).
    """
    entry = _entry(chid, 'replace_access_rights_event')
    if callback is not None:
        entry.access_event_callback.append(callback)
    channel = entry.channel
    if channel.state == CS_CONN:
        entry.run_access_event_callbacks(
            bool(channel.access_rights & READ_ACCESS),
            bool(channel.access_rights & WRITE_ACCESS))
    return dbr.ECA_NORMAL


def _channel(chid):
    return _entry(chid, 'channel').channel


@withCHID
def name(chid):
    """The PV name of a channel."""
    return _channel(chid).name


@withCHID
def host_name(chid):
    """'host:port' of the server of a channel."""
    return _channel(chid).host


@withCHID
def element_count(chid):
    """Native element count of a channel (0 before connection)."""
    return _channel(chid).native_count


@withCHID
def read_access(chid):
    # Plain ints: an int & an IntFlag goes through enum's arithmetic (~1 us).
    return int(bool(_channel(chid).access_rights & READ_ACCESS))


@withCHID
def write_access(chid):
    return int(bool(_channel(chid).access_rights & WRITE_ACCESS))


@withCHID
def field_type(chid):
    """Native DBR type of a channel (-1 before connection)."""
    return _field_type(_channel(chid))


def _field_type(channel):
    """field_type of a context channel (for callers that hold it already)."""
    return channel.native_type if channel.state == CS_CONN else -1


@withCHID
def clear_channel(chid):
    """Clear a channel and forget it."""
    entry = _chid_cache.pop(_chid_to_int(chid), None)
    if entry is not None:
        _cache[entry.context].pop(entry.pvname, None)
        context = _contexts.get(entry.context)
        if context is not None:
            context.clear_channel(entry.channel)
    return dbr.ECA_NORMAL


@withCHID
def state(chid):
    """Connection state (dbr.CS_CONN when connected)."""
    return _channel(chid).state


def isConnected(chid):
    """Whether a channel is connected."""
    return dbr.CS_CONN == state(chid)


def access(chid):
    """'no access', 'read-only', 'write-only' or 'read/write'."""
    return ('no access', 'read-only', 'write-only', 'read/write')[
        read_access(chid) + 2 * write_access(chid)]


@withCHID
def promote_type(chid, use_time=False, use_ctrl=False):
    """The TIME or CTRL type of a channel's native type."""
    return promote_fieldtype(field_type(chid), use_time=use_time, use_ctrl=use_ctrl)


def promote_fieldtype(ftype, use_time=False, use_ctrl=False):
    """The TIME or CTRL variant of a native type (strings have no CTRL form: TIME)."""
    if use_ctrl:
        ftype += dbr.CTRL_STRING
    elif use_time:
        ftype += dbr.TIME_STRING
    if ftype == dbr.CTRL_STRING:
        ftype = dbr.TIME_STRING
    return ftype


# --- values -----------------------------------------------------------------------------

def _scalar(value):
    """One element as the Python number pyepics gives (int or float)."""
    return value.item() if hasattr(value, 'item') else value


def _unpack(chid, data, count=None, ftype=None, as_numpy=True):
    """Python value of the data of a read or monitor message, as pyepics unpacks it.

    ``data`` is a ReadNotifyResponse or EventAddResponse (or its decoded values).
    Strings of a scalar PV come back as str, one-element numbers as Python scalars,
    arrays as numpy arrays (lists without numpy or with ``as_numpy=False``).
    """
    values = data.data if isinstance(data, _core.Message) else data
    if values is None:
        return None
    if ftype is None:
        ftype = field_type(chid) if chid is not None else dbr.INT
    if chid is not None:
        elem_count = element_count(chid)
    else:
        length = len(values)
        elem_count = length if not count else min(length, count)
    return _unpack_values(values, count, ftype, elem_count, as_numpy)


def _unpack_values(values, count, ftype, elem_count, as_numpy, shared=True):
    """_unpack's work once the values, type and native element count are known.

    ``shared``: others may be handed ``values`` too, so an array comes back copied
    (a message decodes once, and one caller's changes must not reach the others).
    """
    if values is None:
        return None
    length = len(values)
    count = length if not count else min(length, count)
    ntype = dbr.native_type(ftype)
    if ntype == dbr.STRING:
        out = [value.rstrip() for value in values[:count]]
        return out[0] if len(out) == 1 and elem_count == 1 else out
    if count < length:  # a slice only when needed: _array copies a view
        values = values[:count]
    if ntype == dbr.CHAR and elem_count > 1:
        return _array(values, ntype, as_numpy, shared)
    if count == 1:
        return _scalar(values[0])
    return _array(values, ntype, as_numpy, shared)


def _array(values, ntype, as_numpy, shared=True):
    """An array value: a numpy array, or (without numpy, or with ``as_numpy=False``) a
    ctypes array of the native element type, as pyepics hands on libca's buffer."""
    if HAS_NUMPY and as_numpy:
        if isinstance(values, numpy.ndarray):
            # A view of the message's bytes is read-only: the caller gets its own copy.
            # Converted values are the caller's if nobody else has them (copying 8 MB
            # costs as much as receiving it).
            return values.copy() if shared or not values.flags.writeable else values
        return numpy.asarray(values)
    array = (dbr.Map[ntype] * len(values))()
    if HAS_NUMPY and isinstance(values, numpy.ndarray):  # big-endian, as received
        native = numpy.ascontiguousarray(values, dtype=values.dtype.newbyteorder('='))
        ctypes.memmove(array, native.ctypes.data, ctypes.sizeof(array))
    else:
        array[:] = values
    return array


def _unpack_metadata(ftype, dbr_value):
    """pyepics' metadata dict of a message's metadata (TIME and CTRL types)."""
    metadata = dbr_value.metadata if isinstance(dbr_value, _core.Message) else dbr_value
    md = {}
    if not metadata:
        return md
    if ftype >= dbr.CTRL_STRING:
        for attr in dbr.ctrl_limits + ('precision', 'units', 'status', 'severity'):
            if attr in metadata:
                md[attr] = metadata[attr]
        if ftype == dbr.CTRL_CHAR:
            # pyepics declares these limits signed (c_byte) though the wire has uint8.
            for attr in dbr.ctrl_limits:
                if md.get(attr, 0) > 127:
                    md[attr] -= 256
        if metadata.get('enum_strs'):
            md['enum_strs'] = tuple(metadata['enum_strs'])
    elif ftype >= dbr.TIME_STRING and 'seconds' in metadata:
        md['status'] = metadata['status']
        md['severity'] = metadata['severity']
        seconds, nanoseconds = metadata['seconds'], metadata['nanoseconds']
        md['timestamp'] = dbr.EPICS2UNIX_EPOCH + seconds + 1.e-6 * int(1.e-3 * nanoseconds)
        md['posixseconds'] = seconds + dbr.EPICS2UNIX_EPOCH
        md['nanoseconds'] = nanoseconds
    else:
        md.update(metadata)
    return md


@withMaybeConnectedCHID
def get_with_metadata(chid, ftype=None, count=None, wait=True, timeout=None,
                      as_string=False, as_numpy=True):
    """The value and metadata of a channel as a dict with at least 'value'.

    None if the channel is not connected, with ``wait=False``, or on timeout.
    """
    return _get(_entry(chid, 'get'), ftype, count, wait, timeout, as_string, as_numpy)


@withMaybeConnectedCHID
def get(chid, ftype=None, count=None, wait=True, timeout=None, as_string=False,
        as_numpy=True):
    """The value of a channel (None if not connected, with ``wait=False`` or on timeout)."""
    info = _get(_entry(chid, 'get'), ftype, count, wait, timeout, as_string, as_numpy)
    return info['value'] if info is not None else None


@withMaybeConnectedCHID
def get_complete_with_metadata(chid, ftype=None, count=None, timeout=None, as_string=False,
                               as_numpy=True):
    """Complete an earlier get that returned None; the value and metadata dict."""
    return _get_complete(_entry(chid, 'get_complete'), ftype, count, timeout, as_string,
                         as_numpy)


@withMaybeConnectedCHID
def get_complete(chid, ftype=None, count=None, timeout=None, as_string=False,
                 as_numpy=True):
    """Complete an earlier get that returned None; the value."""
    info = _get_complete(_entry(chid, 'get_complete'), ftype, count, timeout, as_string,
                         as_numpy)
    return info['value'] if info is not None else None


def _get(entry, ftype, count, wait, timeout, as_string, as_numpy):
    """get_with_metadata's work on a cache entry (looked up once: a get is a hot path)."""
    channel = entry.channel
    if ftype is None:
        ftype = _field_type(channel)
    if ftype in (None, -1):
        return None
    count = 0 if count is None else min(count, channel.native_count)
    pending = None
    results = entry.get_results  # a property that makes the dict: looked up once
    with entry.lock:
        last = results[ftype]
        # GET_PENDING means in flight: one that ended (failed with its circuit, say)
        # must not keep later gets from asking again.
        if last[0] is not GET_PENDING or last[1].done.is_set():
            # Let go of the last reply now, not when this get returns: a large one holds
            # its circuit's receive buffer, which the new reply can then reuse.
            last = None
            try:
                pending = channel.context.read(channel, ftype, count, defer=not wait,
                                               receive=wait)
            except ChannelAccessError:
                # As libca's ca_array_get_callback on a disconnected channel.
                raise CASeverityException('get(%r)' % entry.pvname,
                                          message(_core.EcaStatus.ECA_DISCONN)) from None
            results[ftype] = [GET_PENDING, pending]
    if not wait:
        return None
    try:
        return _get_complete(entry, ftype, count, timeout, as_string, as_numpy)
    finally:
        if pending is not None:  # taken to receive the reply: given back in any case
            channel.context.end_receive(pending)


def _get_complete(entry, ftype, count, timeout, as_string, as_numpy):
    """get_complete_with_metadata's work on a cache entry."""
    channel = entry.channel
    if ftype is None:
        ftype = _field_type(channel)
    native_count = channel.native_count
    count = native_count if count is None else min(count, native_count)
    results = entry.get_results
    result = results[ftype]
    if result[0] is None:
        warnings.warn('get_complete without initial get() call')
        return None
    if timeout is None:
        timeout = 1.0 + log10(max(1, count))
    shared = True  # the first to complete a get has the decoded reply to itself
    if result[0] is GET_PENDING:
        pending: Pending = result[1]
        completed = pending.wait(max(0.0, timeout))
        _run_waiting_callbacks(entry.channel.context)
        if not completed:
            warnings.warn("ca.get('%s') timed out after %.2f seconds." % (entry.pvname,
                                                                          timeout))
            return None
        with entry.lock:
            if results[ftype] is result:
                results[ftype] = [pending]
                shared = False
        result = [pending]
    pending = result[0]
    if _chid_cache.get(entry.chid_int) is not entry:
        return None  # cleared while the reply was on its way: as libca, no answer
    return _reply_metadata(entry, pending, ftype, count, as_string, as_numpy, shared)


def _reply_metadata(entry, pending, ftype, count, as_string, as_numpy, shared=False):
    """The metadata dict, with its 'value', of a completed read; raises
    ChannelAccessGetFailure if it failed. ``shared``: another caller has (or may have)
    the reply's own decoded values, so they are decoded anew from its wire bytes (for a
    large array converted in place, rebuilt from those values: README, differences)."""
    reply = pending.result
    if pending.error is not None or reply is None:
        status = reply.status if reply is not None else _core.EcaStatus.ECA_DISCONN
        raise ChannelAccessGetFailure('Get failed; status code: %d (%s: %s)'
                                      % (status, entry.pvname, pending.error),
                                      chid=entry.chid, status=status)
    try:
        reply.decode(allocate=allocate)
        metadata = _unpack_metadata(ftype, reply)
        values = reply.data
        if shared:
            values = _core.decode_payload(reply.data_type, reply.wire_payload(),
                                          reply.data_count)[1]
        value = _unpack_values(values, count, ftype, entry.channel.native_count, as_numpy,
                               shared=False)
    except _core.ProtocolError as exc:
        raise ChannelAccessGetFailure('Get failed; %s: %s' % (entry.pvname, exc),
                                      chid=entry.chid, status=reply.status) from None
    if as_string:
        value = _as_string(value, entry.chid, count, ftype)
    metadata['value'] = value
    return metadata


def _get_many(chids, count, as_string, as_numpy, timeout, connection_deadline):
    """caget_many's reads: each goes out as soon as its channel connects (by the I/O
    thread: see ``Context.read_when_connected``), while the others still connect. A
    channel connected by ``connection_deadline`` (time.monotonic) has ``timeout``
    seconds more for its reply; None for those that did not connect or answer."""
    entries = [_entry(chid, 'caget_many') for chid in chids]
    pendings = [entry.channel.context.read_when_connected(entry.channel, count)
                for entry in entries]
    # Channels connect about in the order they were made: waiting for the last first
    # sleeps once, not once per channel.
    for entry in reversed(entries):
        entry.channel.connected.wait(max(0.0, connection_deadline - time.monotonic()))
    values = []
    for entry, pending in zip(entries, pendings):
        channel = entry.channel
        if channel.state != CS_CONN:
            channel.context.forget_read(pending)
            values.append(None)
        elif not pending.wait(max(0.0, timeout)) or pending.error is not None:
            values.append(None)
        else:
            native_count = channel.native_count
            wanted = native_count if count is None else min(count, native_count)
            values.append(_reply_metadata(entry, pending, channel.native_type, wanted,
                                          as_string, as_numpy)['value'])
    return values


def _as_string(val, chid, count, ftype):
    """A value as pyepics' plain string form (char arrays as text, enums by name)."""
    try:
        if ftype in (dbr.CHAR, dbr.TIME_CHAR, dbr.CTRL_CHAR) and \
                count < AUTOMONITOR_MAXLENGTH and not isinstance(val, (int, float)):
            chars = []
            for code in val:
                if code == 0:
                    break
                chars.append(chr(code))
            val = ''.join(chars).strip()
        elif ftype == dbr.ENUM and count == 1:
            val = get_enum_strings(chid)[val]
        elif count > 1:
            val = '<array count=%d, type=%d>' % (count, ftype)
        val = str(val)
    except ValueError:
        pass
    except (IndexError, TypeError):
        # pyepics raises here (an enum value past the 16 CA enum strings, a CHAR
        # scalar); the caller asked for a string, so give one.
        val = str(val)
    return val


def _encode_for_put(entry, value, ftype, nativecount):
    """(value to send, element count) for a put, following pyepics' rules.

    Raises TypeError, ValueError or OverflowError (as pyepics would) naming the PV when
    the value cannot be sent as the channel's type; put() makes them
    ChannelAccessExceptions too.
    """
    pvname = entry.pvname
    ntype = dbr.native_type(ftype)
    kind = type(value)
    if (kind is float or kind is int) and ntype != dbr.STRING:
        # One plain number, the common put: handed on as it is, without the checks
        # (two against the Mapping ABC) that other values need.
        return _number(entry, value, ntype), 1
    if value is None or isinstance(value, Mapping):
        raise TypeError("cannot put %r to %s: not a value" % (value, pvname))
    if ntype == dbr.STRING:
        items = [value] if isinstance(value, (str, bytes)) or not _is_sequence(value) \
            else list(value)[:max(1, nativecount)]
        out = []
        for item in items:
            text = item.decode() if isinstance(item, bytes) else str(item)
            if len(text.encode()) >= dbr.MAX_STRING_SIZE:
                raise ValueError("cannot put %r to %s: strings hold at most %d bytes"
                                 % (text, pvname, dbr.MAX_STRING_SIZE - 1))
            out.append(text)
        return out, len(out)
    if ntype == dbr.CHAR and isinstance(value, (str, bytes)):
        raw = value.encode() if isinstance(value, str) else value
        if nativecount > 1:
            raw = (raw + b'\0')[:nativecount]
            return raw, len(raw)
        return raw[:1] or b'\0', 1
    if _is_sequence(value):
        # An n-d array goes flat, in C order: the count must be that of the elements.
        items = value.ravel() if HAS_NUMPY and isinstance(value, numpy.ndarray) \
            else list(value)
        if len(items) > nativecount and nativecount > 0:
            if nativecount == 1 and len(items) > 1:
                raise TypeError("cannot put %d values to %s: it holds one"
                                % (len(items), pvname))
            items = items[:nativecount]
        if len(items) == 0:
            raise ChannelAccessException("cannot put an empty array to %s" % pvname)
        try:
            items = [_number(entry, item, ntype) for item in items] \
                if not (HAS_NUMPY and isinstance(items, numpy.ndarray)) else items
        except (TypeError, ValueError, OverflowError) as exc:
            raise type(exc)("cannot put array data %r to PV %s of type '%s'"
                            % (value, pvname, dbr.Name(ftype).lower())) from None
        return items, len(items)
    return _number(entry, value, ntype), 1


def _put_error(exc, text=None):
    """The ChannelAccessException for a value put() cannot convert, of ``exc``'s kind."""
    if isinstance(exc, ChannelAccessException):
        return exc
    kind = _PutOverflowError if isinstance(exc, OverflowError) else \
        _PutTypeError if isinstance(exc, TypeError) else _PutValueError
    return kind(text or str(exc))


def _is_sequence(value):
    if isinstance(value, (str, bytes)):
        return False
    if HAS_NUMPY and isinstance(value, numpy.ndarray):
        return value.ndim > 0
    if isinstance(value, Mapping):
        return False
    return hasattr(value, '__len__') and hasattr(value, '__getitem__')


def _number(entry, value, ntype):
    """A scalar for a numeric or enum field; strings are parsed (enums by name too)."""
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        text = value.strip()
        if ntype == dbr.ENUM:
            strings = get_enum_strings(entry.chid) or ()
            if text in strings:
                return strings.index(text)
        try:
            return int(text, 0) if ntype in (dbr.INT, dbr.LONG, dbr.CHAR, dbr.ENUM) \
                else float(text)
        except ValueError:
            raise ValueError("cannot put %r to %s (type %s): not a number%s" % (
                value, entry.pvname, dbr.Name(ntype).lower(),
                "" if ntype != dbr.ENUM else " nor one of its enum strings")) from None
    if HAS_NUMPY and isinstance(value, numpy.generic):
        value = value.item()
    if not isinstance(value, (int, float)):
        try:
            value = float(value)
        except (TypeError, ValueError) as exc:
            raise type(exc)("cannot put value '%r' to PV %s of type '%s'" % (
                value, entry.pvname, dbr.Name(ntype).lower())) from None
    if ntype in (dbr.INT, dbr.LONG, dbr.CHAR, dbr.ENUM) and isinstance(value, float):
        try:
            value = int(value)
        except (ValueError, OverflowError) as exc:  # NaN, infinity: as int() says
            raise type(exc)("cannot put %r to integer PV %s" % (value, entry.pvname)) \
                from None
    return value


@withConnectedCHID
def put(chid, value, wait=False, timeout=30, callback=None, callback_data=None, ftype=None):
    """Write a value; with ``wait`` (or ``callback``) the server reports completion.

    Returns 1 on success, -1 when ``wait`` timed out. ``callback(pvname=, data=)`` (or
    with the items of a dict ``callback_data``) runs when processing has completed.
    """
    entry = _entry(chid, 'put')
    channel = entry.channel
    if ftype is None:
        ftype = _field_type(channel)
    nativecount = channel.native_count
    try:
        data, count = _encode_for_put(entry, value, ftype, nativecount)
    except (TypeError, ValueError, OverflowError) as exc:
        raise _put_error(exc) from None
    notify = bool(wait or callable(callback))
    pvname = entry.pvname

    def completed(pending):
        if pending.error is not None:
            logger.warning("put to %s failed: %s", pvname, pending.error)
        kwargs = callback_data if isinstance(callback_data, dict) else {'data': callback_data}
        callback(pvname=pvname, **kwargs)

    try:
        # Without a callback, a waiting put learns of its completion here: no call on
        # the dispatcher thread (a thread wake-up per put) just to log a failure. As a
        # get, a waiting put takes the circuit before sending (receive=True): a server
        # that completes the put in ~40 us replies before the caller could take it
        # after sending, and the I/O thread woke for every reply (seen with strace).
        pending = channel.context.write(channel, data, dbr.native_type(ftype), count, notify,
                                        completed if callable(callback) else None,
                                        receive=bool(wait))
    except WriteAccessDenied:
        raise CASeverityException('put(%r)' % pvname,
                                  message(_core.EcaStatus.ECA_NOWTACCESS)) from None
    except ChannelAccessError as exc:
        raise ChannelAccessException('put to %s failed: %s' % (pvname, exc)) from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise _put_error(exc, "cannot put %r to %s: %s" % (value, pvname, exc)) from None
    ret = dbr.ECA_NORMAL
    # The I/O thread marks completion, so this also works inside a callback.
    if wait:
        if not pending.wait(max(0.0, timeout)):
            ret = -ret
        _run_waiting_callbacks(channel.context)
    if notify and pending.error is not None and not callable(callback):
        logger.warning("put to %s failed: %s", pvname, pending.error)
    return ret


@withMaybeConnectedCHID
def get_ctrlvars(chid, timeout=5.0, warn=True):
    """The CTRL metadata of a channel (limits, units, precision, enum strings...)."""
    ftype = promote_type(chid, use_ctrl=True)
    metadata = get_with_metadata(chid, ftype=ftype, count=1, timeout=timeout, wait=True)
    if metadata is not None:
        metadata.pop('value', None)
    return metadata


@withCHID
def get_timevars(chid, timeout=5.0, warn=True):
    """The TIME metadata of a channel: status, severity, timestamp."""
    ftype = promote_type(chid, use_time=True)
    metadata = get_with_metadata(chid, ftype=ftype, count=1, timeout=timeout, wait=True)
    if metadata is not None:
        metadata.pop('value', None)
    return metadata


def get_timestamp(chid):
    return get_timevars(chid).get('timestamp', 0)


def get_severity(chid):
    return get_timevars(chid).get('severity', 0)


def get_precision(chid):
    if field_type(chid) in (dbr.FLOAT, dbr.DOUBLE):
        return get_ctrlvars(chid).get('precision', None)
    return None


def get_enum_strings(chid):
    if field_type(chid) == dbr.ENUM:
        return get_ctrlvars(chid).get('enum_strs', None)
    return None


# --- subscriptions ------------------------------------------------------------------------

class _MonitorHandler:
    """What the dispatcher runs for each update of one subscription made here: it calls
    ``callback(value=, ftype=, count=, chid=, pvname=, <metadata>)`` as pyepics does, or
    the methods of its owner (see _subscribe).

    A small object (a closure or a partial with its tuple costs ~0.2 kB more per
    monitored channel) that knows, from the start, what does not change between updates:
    a profile of a burst of updates had the per-update lookups and the generic unpacking
    at a fifth of the callback thread's time.
    """
    __slots__ = ('entry', 'subscription', 'callback', 'ftype', 'timed', 'number', 'owner')

    def __init__(self, entry, callback, ftype, owner=None):
        self.entry = entry
        self.subscription = None  # set once the context has made it
        self.callback = callback
        self.ftype = ftype
        # Updates come in the type subscribed to. TIME metadata and single numbers (the
        # common monitor) are unpacked here; anything else by _unpack_metadata and
        # _unpack_values, which give the same for these.
        self.timed = dbr.TIME_STRING <= ftype <= dbr.TIME_DOUBLE
        self.number = dbr.native_type(ftype) not in (dbr.STRING, dbr.CHAR)
        self.owner = owner  # see _subscribe

    def __call__(self, message):
        decoded = self.decode(message)
        if decoded is None:
            return
        value, kwds = decoded
        owner = self.owner
        if owner is not None:
            owner._monitor_update(value, kwds)
        elif callable(self.callback):
            self.callback(value=value, **kwds)

    def keep_at_once(self, message) -> bool:
        """On the thread that received the update: hand it to the owner now if the owner
        says it needs no callback (True), else leave it to be queued (False)."""
        owner = self.owner
        if not owner._may_keep_at_once():
            return False
        try:
            decoded = self.decode(message)
            if decoded is not None:
                owner._keep_update(*decoded)
        except Exception:
            logger.exception("keeping the update of %s", self.entry.pvname)
        return True

    def decode(self, message):
        """(value, keyword arguments) of an update, or None if there is nothing to call
        back with (cancelled, cleared, a failed or malformed update)."""
        subscription = self.subscription
        if subscription is None or not subscription.active:
            return None
        if message.status != dbr.ECA_NORMAL:
            return None
        entry = self.entry
        channel = entry.channel
        chid = channel.chid  # the same number, not a new int at each update
        if _chid_cache.get(chid) is not entry:
            return None  # the channel was cleared (or the library finalized at exit)
        data_type = message.data_type
        count = message.data_count
        same_type = data_type == self.ftype
        try:
            metadata, values = message.decode(allocate=allocate)
            if self.timed and same_type:
                seconds, nanoseconds = metadata['seconds'], metadata['nanoseconds']
                epoch = dbr.EPICS2UNIX_EPOCH
                kwds = {'ftype': data_type, 'count': count, 'chid': chid,
                        'pvname': entry.pvname, 'status': metadata['status'],
                        'severity': metadata['severity'],
                        'timestamp': epoch + seconds + 1.e-6 * int(1.e-3 * nanoseconds),
                        'posixseconds': seconds + epoch, 'nanoseconds': nanoseconds}
            else:
                kwds = {'ftype': data_type, 'count': count, 'chid': chid,
                        'pvname': entry.pvname}
                kwds.update(_unpack_metadata(data_type, metadata))
            if self.number and count == 1 and same_type and len(values) == 1:
                value = values.item(0) if HAS_NUMPY and isinstance(values, numpy.ndarray) \
                    else values[0]
            else:
                value = _unpack_values(values, count, data_type, channel.native_count,
                                       True, shared=False)
        except _core.ProtocolError as exc:
            logger.error("bad monitor update for %s: %s", entry.pvname, exc)
            return None
        except ChannelAccessException:
            return None  # cleared between the check above and now
        return value, kwds


@withCHID
def create_subscription(chid, use_time=False, use_ctrl=False, ftype=None, mask=None,
                        callback=None, count=0, timeout=None):
    """Subscribe to changes: ``callback(value=, pvname=, chid=, ftype=, count=, ...)``.

    Returns (callback_ref, user_arg_ref, event_id); pass event_id to clear_subscription.
    """
    return _subscribe(chid, use_time, use_ctrl, ftype, mask, callback, count, timeout)


@withCHID
def _subscribe(chid, use_time=False, use_ctrl=False, ftype=None, mask=None, callback=None,
               count=0, timeout=None, owner=None):
    """create_subscription, and for epics_compat's PV an ``owner`` called instead of
    ``callback``: ``owner._monitor_update(value, keywords)`` on the callback thread,
    with the dict of keyword arguments other callbacks get unpacked. The thread that
    receives an update first asks ``owner._may_keep_at_once()`` (only when none of this
    subscription's updates wait in the callback queue); if true, it calls
    ``owner._keep_update(value, keywords)`` itself instead of queuing the update. A PV
    without user callbacks keeps its value so, with no hand-off to the callback thread
    (in a preemptive context only: a non-preemptive one updates inside poll()).

    The owner, not bound methods of it: each bound method kept is one more object per
    monitored PV for the garbage collector to go through, which at 50,000 PVs made
    full collections a quarter of the time to connect them.
    """
    entry = _entry(chid, 'create_subscription')
    mask = mask or DEFAULT_SUBSCRIPTION_MASK
    if ftype is None:
        if not isConnected(chid):
            if timeout is None:
                timeout = DEFAULT_CONNECTION_TIMEOUT
            if not connect_channel(chid, timeout=timeout):
                raise ChannelAccessException(
                    "create_subscription() timed out waiting '%s' to connect (%d seconds)"
                    % (entry.pvname, timeout))
        ftype = field_type(chid)
    ftype = promote_fieldtype(ftype, use_time=use_time, use_ctrl=use_ctrl)
    if count and isConnected(chid):
        count = min(count, element_count(chid))  # as libca: no padding past NELM
    context = entry.channel.context
    handler = _MonitorHandler(entry, callback, ftype, owner)
    try:
        subscription = context.subscribe(
            entry.channel, ftype, count or 0, mask, handler,
            keeps_at_once=owner is not None and context.dispatcher.threaded)
    except (TypeError, ValueError) as exc:
        raise _InvalidRequestError('create_subscription(%r)' % entry.pvname, str(exc)) \
            from None
    handler.subscription = subscription
    return (handler, callback, subscription)


@withCA
@withSEVCHK
def clear_subscription(event_id):
    """Cancel a subscription given its event_id."""
    if not hasattr(event_id, 'channel') or not hasattr(event_id, 'subscriptionid'):
        raise ChannelAccessException("clear_subscription: not a subscription event id %r"
                                     % (event_id,))
    event_id.channel.context.unsubscribe(event_id)
    return dbr.ECA_NORMAL


# --- synchronous groups -------------------------------------------------------------------

class _SyncGroup:
    def __init__(self):
        self.pending: list[Pending] = []


_sync_groups: Dict[int, _SyncGroup] = {}


@withCA
def sg_create():
    """Create a synchronous group; returns its id."""
    gid = dbr.ulong_t(id(object()) & 0xFFFFFFFF)
    while gid.value in _sync_groups:
        gid = dbr.ulong_t(gid.value + 1)
    _sync_groups[gid.value] = _SyncGroup()
    return gid


def _group(gid):
    group = _sync_groups.get(gid.value if hasattr(gid, 'value') else gid)
    if group is None:
        raise CASeverityException('sync group', message(_core.EcaStatus.ECA_BADSYNCGRP))
    return group


@withCA
@withSEVCHK
def sg_delete(gid):
    _sync_groups.pop(gid.value if hasattr(gid, 'value') else gid, None)
    return dbr.ECA_NORMAL


@withCA
@withSEVCHK
def sg_block(gid, timeout=10.0):
    """Wait until every put of the group has completed (ECA_TIMEOUT if not in time).

    Either way the group is empty afterwards: libca drops what is still pending.
    """
    group = _group(gid)
    deadline = time.monotonic() + timeout
    try:
        for pending in group.pending:
            if not pending.wait(max(0.0, deadline - time.monotonic())):
                return dbr.ECA_TIMEOUT
        return dbr.ECA_NORMAL
    finally:
        group.pending.clear()


@withCA
def sg_test(gid):
    """Whether every request of the group has completed."""
    group = _group(gid)
    done = all(pending.done.is_set() for pending in group.pending)
    return PySEVCHK('sg_test', dbr.ECA_IODONE if done else _core.EcaStatus.ECA_IOINPROGRESS,
                    dbr.ECA_IODONE)


@withCA
@withSEVCHK
def sg_reset(gid):
    _group(gid).pending.clear()
    return dbr.ECA_NORMAL


def sg_get(gid, chid, ftype=None, as_numpy=True, as_string=True):
    """Get within a group. Unlike libca, this returns the value itself, once received."""
    group = _group(gid)
    entry = _entry(chid, 'sg_get')
    if ftype is None:
        ftype = field_type(chid)
    count = element_count(chid)
    pending = entry.channel.context.read(entry.channel, ftype, 0)
    group.pending.append(pending)
    if not pending.wait(DEFAULT_CONNECTION_TIMEOUT) or pending.error is not None:
        return None
    val = _unpack(chid, pending.result, count=count, ftype=ftype, as_numpy=as_numpy)
    if as_string:
        val = _as_string(val, chid, count, ftype)
    return val


def sg_put(gid, chid, value):
    """Put within a group: sg_block waits for its completion."""
    group = _group(gid)
    entry = _entry(chid, 'sg_put')
    ftype = field_type(chid)
    data, count = _encode_for_put(entry, value, ftype, element_count(chid))
    pending = entry.channel.context.write(entry.channel, data, ftype, count, True)
    group.pending.append(pending)
    return dbr.ECA_NORMAL


class CAThread(threading.Thread):
    """A Thread that uses the initial CA context."""

    def run(self):
        use_initial_context()
        threading.Thread.run(self)
