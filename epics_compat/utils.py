"""String helpers of pyepics' ``epics.utils``: text encoding for PV names and values."""
from __future__ import annotations

import os
import platform
import sys

#: Encoding of text sent to and received from servers (PYEPICS_ENCODING, else
#: PYTHONIOENCODING, else UTF-8).
IOENCODING = os.environ.get('PYEPICS_ENCODING', os.environ.get('PYTHONIOENCODING', 'utf-8'))


def __getattr__(name):
    # pyepics imports charset_normalizer's from_bytes (or None) at import time; that
    # import costs ~80 ms, so here it happens only when someone asks for it.
    if name == 'from_bytes':
        try:
            from charset_normalizer import from_bytes
        except ImportError:
            from_bytes = None
        globals()['from_bytes'] = from_bytes
        return from_bytes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def str2bytes(st1) -> bytes:
    """Text as bytes in IOENCODING (bytes pass through)."""
    if isinstance(st1, bytes):
        return st1
    return bytes(st1, IOENCODING)


def bytes2str(st1) -> str:
    """Bytes as text in IOENCODING; anything else through str().

    Bytes that are not valid IOENCODING are decoded with charset_normalizer's best
    guess when that package is installed; otherwise UnicodeDecodeError propagates.
    """
    if isinstance(st1, str):
        return st1
    if not isinstance(st1, bytes):
        return str(st1)
    try:
        return str(st1, IOENCODING)
    except UnicodeDecodeError:
        try:
            from charset_normalizer import from_bytes
        except ImportError:
            raise
        return str(from_bytes(st1).best())


def strjoin(sep, seq) -> str:
    """Join text (or bytes, stopping at a NUL element) with a separator."""
    if isinstance(sep, bytes):
        sep = bytes2str(sep)
    if len(seq) == 0:
        return sep.join('')
    if isinstance(seq[0], bytes):
        parts = []
        for item in seq:
            if item == b'\x00':
                break
            parts.append(bytes2str(item))
        seq = parts
    return sep.join(seq)


def clib_search_path(lib):
    """Where pyepics would look for its bundled C library ``lib`` ('ca' or 'Com').

    Kept for compatibility only: epics_compat loads no C library.
    """
    try:
        bits = platform.architecture()[0]
        machine = platform.machine()
    except Exception:
        bits, machine = '32bit', 'x86_64'
    bits = bits.replace('bit', '')
    if machine.startswith('arm'):
        bits = 'arm'
    pattern = 'lib%s.so'
    if os.name == 'nt':
        system, pattern = 'win', '%s.dll'
    elif sys.platform == 'darwin':
        system, pattern = 'darwin', 'lib%s.dylib'
        if machine == 'arm64':
            system, bits = 'darwinarm', '64'
    elif sys.platform.startswith('linux'):
        system = 'linux'
    else:
        return None
    return os.path.join(f"{system}{bits}", pattern % lib)
