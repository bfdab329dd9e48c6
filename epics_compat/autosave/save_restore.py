"""Save and restore sets of PVs with synApps autosave's file formats.

A request file lists PV names, one a line, ``#`` comments, and includes of other request
files with macros: ``file motor_settings.req P=XX:,M=m1`` (``$(P)$(M).VAL`` in the
included file becomes ``XX:m1.VAL``). A save file holds ``<pvname> <value>`` lines, arrays
as ``@array@ [1, 2, 3]`` (JSON), and ends with ``<END>``.
"""
from __future__ import annotations

import datetime
import json
import os
import re
import shlex
import sys
import time

from ..pv import get_pv
from ..utils import IOENCODING

_MACRO = re.compile(r"([A-Za-z][A-Za-z0-9_]*)\s*=\s*([^,;\s]*)")


def _read_save_file(filepath):
    """(pvname, value) pairs of a save file; array values decoded from JSON."""
    pairs = []
    with open(filepath, 'r', encoding=IOENCODING) as inp:
        for line in inp:
            line = line.rstrip('\n')
            if len(line) < 2 or line.startswith('<END') or line.startswith('#'):
                continue
            parts = line.split(' ', 1)
            if len(parts) < 2:
                continue
            pvname, value = parts[0].strip(), parts[1].strip()
            if value.startswith('@array@'):
                value = value[len('@array@'):].strip()
                if value.startswith('{') and value.endswith('}'):
                    value = value[1:-1]
                value = json.loads(value)
            pairs.append((pvname, value))
    return pairs


def restore_pvs(filepath, debug=False):
    """Put the values of a save file back to their PVs; True if every put was made.

    PVs that do not connect, or may not be written, are reported on standard output
    and skipped. ``debug`` prints each value as it is set.
    """
    # Make every PV first, so that they all connect in parallel.
    todo = [(get_pv(pvname, connect=False), value)
            for pvname, value in _read_save_file(filepath)]
    failures = []
    for thispv, value in todo:
        thispv.connect()
        if not thispv.connected:
            time.sleep(0.1)
        if not thispv.connected:
            print(f"Cannot connect to {thispv.pvname}")
        elif not thispv.write_access:
            print(f"No write access to {thispv.pvname}")
        else:
            if debug:
                print(f"Setting {thispv.pvname} to {value}")
            try:
                thispv.put(value, wait=False)
            except Exception:
                exc_type, exc_value = sys.exc_info()[:2]
                print(f"Error restoring {thispv.pvname} to {value} : {exc_type} {exc_value}")
                failures.append(thispv.pvname)
    return len(failures) == 0


def save_pvs(request_file, save_file, debug=False):
    """Save the PVs named by a request file to a save file (``debug``: print each)."""
    AutoSaver(request_file).save(save_file, verbose=debug)


class AutoSaver:
    """The PVs of a request file, saved to a save file with save()."""

    def __init__(self, request_file=None):
        self.request_file = request_file
        self.pvs = []
        if request_file is not None:
            self.read_request_file(request_file)

    def read_request_file(self, request_file=None):
        """(Re)read the request file and make its PVs."""
        if request_file is not None:
            self.request_file = request_file
        self.pvs = [get_pv(pvname, connect=False)
                    for pvname in _parse_request_file(self.request_file)]

    def save(self, save_file=None, verbose=False):
        """Write the current values to ``save_file`` (default: the request file's name
        with a timestamp and ``.sav``). Unconnected PVs are left out."""
        now = datetime.datetime.now()
        if save_file is None:
            base = self.request_file
            if base.endswith('.req'):
                base = base[:-4]
            save_file = f"{base}_{now.strftime('%Y%b%d_%H%M%S')}.sav"
        lines = [f"# File saved by pyepics AutoSaver.save() on {now}",
                 "# Edit with extreme care."]
        for thispv in self.pvs:
            thispv.wait_for_connection()
            if not thispv.connected:
                if verbose:
                    print(f"PV {thispv.pvname} not connected")
                continue
            if thispv.count == 1:
                value = str(thispv.get())
            elif 'char' in thispv.type:
                value = thispv.get(as_string=True)
            else:
                data = thispv.get()
                data = data.tolist() if hasattr(data, 'tolist') else list(data)
                value = f"@array@ {json.dumps(data)}"
            lines.append(f"{thispv.pvname} {value}")
            if verbose:
                print(f"PV {thispv.pvname} = {value}")
        lines.append("<END>\n")
        with open(save_file, 'w', encoding=IOENCODING) as out:
            out.write("\n".join(lines))
        print(f"wrote {save_file}")


def _expand(text, macros):
    for name, value in macros.items():
        text = text.replace(f"$({name})", value)
    return text


def _parse_request_file(request_file, macro_values=None):
    """The PV names of a request file, includes followed and macros expanded."""
    macros = dict(macro_values or {})
    names = []
    with open(request_file, 'r', encoding=IOENCODING) as inp:
        lines = inp.read().splitlines()
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        words = line.split(None, 1)
        if words[0] == 'file' and len(words) > 1:
            rest = words[1].strip()
            try:
                parts = shlex.split(rest, comments=False, posix=True)
            except ValueError as exc:
                raise ValueError(f"{request_file}:{number}: bad include line {line!r}: "
                                 f"{exc}") from None
            if not parts:
                raise ValueError(f"{request_file}:{number}: 'file' without a file name")
            subfile = parts[0].rstrip(',')
            arguments = ' '.join(parts[1:])
            sub_macros = dict(macros)
            for name, value in _MACRO.findall(arguments):
                if value != f"$({name})":
                    sub_macros[name] = value
            path = os.path.normpath(os.path.join(os.path.dirname(request_file), subfile))
            names.extend(_parse_request_file(path, sub_macros))
        else:
            names.append(_expand(words[0], macros))
    return names
