"""The top level of epics_compat: caget, caput, cainfo, camonitor, caget_many,
caput_many, the names pyepics exports, and install_as_epics()."""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

import epics_compat as epics
from ioc import run_python
from pyepics_api import restore, wait_for

pytestmark = pytest.mark.timeout(60)

WRITTEN = ["ao", "long", "str", "slow", "slow:done", "bo", "mbbo"]


@pytest.fixture(scope="module", autouse=True)
def restored_records(softioc):
    with restore(epics, [softioc.pv(name) for name in WRITTEN]):
        yield


# --- what the package exports --------------------------------------------------------------

def test_names_of_pyepics_top_level():
    for name in ("PV", "Alarm", "Motor", "Device", "poll", "get_pv", "CAProcess", "CAPool",
                 "caget", "caput", "cainfo", "camonitor", "camonitor_clear",
                 "caget_many", "caput_many", "ca", "dbr", "pv", "alarm", "device", "motor",
                 "multiproc", "utils", "autosave", "__version__"):
        assert hasattr(epics, name), name
    assert (epics.NO_ALARM, epics.MINOR_ALARM, epics.MAJOR_ALARM, epics.INVALID_ALARM) == (
        0, 1, 2, 3)
    assert epics.PV is epics.pv.PV and epics.get_pv is epics.pv.get_pv
    assert epics.poll is epics.ca.poll
    assert epics.autosave.AutoSaver is epics.autosave.save_restore.AutoSaver


def test_version_satisfies_code_written_for_pyepics():
    from packaging.version import Version
    version = Version(epics.__version__)
    assert version >= Version("3.4.2")  # ophyd's minimum pyepics
    assert version.release == (3, 5, 10) and version.local.startswith("epicscompat")
    assert epics.version.epics_compat_version == "0.1.0"


def test_import_is_fast_enough():
    """A fresh ``import epics_compat`` (numpy included) stays well under a second."""
    code = "import time; t = time.perf_counter(); import epics_compat; " \
           "print(time.perf_counter() - t)"
    took = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout)
    assert took < 1.0


def test_utils():
    from epics_compat import utils
    assert utils.str2bytes("abc") == b"abc" and utils.str2bytes(b"x") == b"x"
    assert utils.bytes2str(b"abc") == "abc" and utils.bytes2str(5) == "5"
    assert utils.strjoin(b",", [b"a", b"b", b"\x00", b"c"]) == "a,b"
    assert utils.strjoin("", []) == ""
    assert utils.IOENCODING == os.environ.get("PYEPICS_ENCODING",
                                              os.environ.get("PYTHONIOENCODING", "utf-8"))
    assert utils.clib_search_path("ca").endswith("libca.so")
    assert utils.from_bytes is None or callable(utils.from_bytes)


# --- caget / caput -------------------------------------------------------------------------

def test_caget(softioc):
    assert epics.caget(softioc.pv("ai")) == 3.25
    assert epics.caget(softioc.pv("ai"), as_string=True) == "3.2500"
    assert epics.caget(softioc.pv("mbbi"), as_string=True) == "One"
    assert epics.caget(softioc.pv("strin")) == "read me"
    value = epics.caget(softioc.pv("wlong:init"))
    assert isinstance(value, np.ndarray) and value.tolist() == [1, 2, 3, 4, 5]
    assert epics.caget(softioc.pv("wlong:init"), count=2).tolist() == [1, 2]
    assert epics.caget(softioc.pv("wlong:init"), as_numpy=False) == [1, 2, 3, 4, 5]
    assert epics.caget(softioc.pv("wchar:init"), as_string=True) == "char waveform text"
    assert epics.caget(softioc.pv("longin"), use_monitor=False) == 42


def test_caget_unconnected_returns_none(softioc, capsys):
    start = time.monotonic()
    assert epics.caget(softioc.pv("absent"), connection_timeout=0.3) is None
    assert time.monotonic() - start < 2.0
    assert f"cannot connect to {softioc.pv('absent')}" in capsys.readouterr().out


def test_caput(softioc):
    assert epics.caput(softioc.pv("ao"), 2.75, wait=True) == 1
    assert epics.caget(softioc.pv("ao")) == 2.75
    assert epics.caput(softioc.pv("str"), "written", wait=True) == 1
    assert epics.caget(softioc.pv("str")) == "written"
    assert epics.caput(softioc.pv("mbbo"), "Zero", wait=True) == 1
    assert epics.caget(softioc.pv("mbbo")) == 0
    assert epics.caput(softioc.pv("absent"), 1, connection_timeout=0.2) is None


def test_caput_wait_and_timeout(softioc):
    start = time.monotonic()
    assert epics.caput(softioc.pv("slow"), 1, wait=True) == 1
    assert time.monotonic() - start > 0.4
    assert epics.caput(softioc.pv("slow"), 2, wait=True, timeout=0.1) == -1
    time.sleep(0.6)
    assert epics.caput(softioc.pv("long"), 5) == 1  # no wait: returns at once


# --- caget_many / caput_many ---------------------------------------------------------------

def test_caget_many(softioc):
    names = [softioc.pv(n) for n in ("ai", "longin", "strin", "mbbi", "absent", "wlong:init")]
    values = epics.caget_many(names, connection_timeout=0.5)
    assert values[:5] == [3.25, 42, "read me", 1, None]
    assert values[5].tolist() == [1, 2, 3, 4, 5]
    # ca-level strings: no PREC formatting, enum names (as pyepics)
    assert epics.caget_many(names[:4], as_string=True) == ["3.25", "42", "read me", "One"]
    # count as ca.get's: clipped to the channel's element count, 1 gives a scalar
    values = epics.caget_many(names[5:] + names[:1], count=2)
    assert values[0].tolist() == [1, 2] and values[1] == 3.25
    assert epics.caget_many(names[5:], count=1) == [1]
    assert epics.caget_many(names[5:], count=1000)[0].tolist()[:5] == [1, 2, 3, 4, 5]


def test_caput_many(softioc):
    names = [softioc.pv("ao"), softioc.pv("long"), softioc.pv("absent")]
    assert epics.caput_many(names, [1.25, 9, 0], connection_timeout=0.3) == [1, 1, -1]
    assert wait_for(lambda: epics.caget(names[0]) == 1.25)
    assert epics.caput_many(names[:2], [2.5, 10], wait="each") == [1, 1]
    assert epics.caget_many(names[:2]) == [2.5, 10]
    start = time.monotonic()
    assert epics.caput_many([softioc.pv("slow"), names[0]], [3, 3.5], wait="all") == [1, 1]
    assert 0.4 < time.monotonic() - start < 3
    with pytest.raises(ValueError):
        epics.caput_many(names, [1])


# --- cainfo / camonitor --------------------------------------------------------------------

def test_cainfo(softioc, capsys):
    text = epics.cainfo(softioc.pv("ai"), print_out=False)
    lines = text.splitlines()
    assert lines[0] == f"== {softioc.pv('ai')}  (time_double) =="
    assert lines[1:4] == ["   value           = 3.25", "   char_value      = '3.2500'",
                          "   count           = 1"]
    assert f"   host            = 127.0.0.1:{softioc.port}" in lines
    assert "   upper_warning_limit  = 80.0" in lines
    assert lines[-1] == "============================="
    assert epics.cainfo(softioc.pv("ai")) is None
    assert capsys.readouterr().out.startswith(lines[0])
    assert epics.cainfo(softioc.pv("absent"), connection_timeout=0.2) is None


def test_camonitor_with_writer_and_clear(softioc):
    lines = []
    name = softioc.pv("calc")
    epics.camonitor(name, writer=lines.append)
    assert wait_for(lambda: len(lines) >= 3)
    assert re.fullmatch(re.escape(name) + r" \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{5} \d+",
                        lines[-1])
    assert name in epics._PVmonitors_
    epics.camonitor_clear(name)
    assert name not in epics._PVmonitors_
    time.sleep(0.15)
    count = len(lines)
    time.sleep(0.3)
    assert len(lines) == count


def test_camonitor_with_callback(softioc):
    seen = []
    name = softioc.pv("calc")
    epics.camonitor(name, callback=lambda **kw: seen.append(kw["value"]))
    assert wait_for(lambda: len(seen) >= 2)
    epics.camonitor_clear(name)
    assert seen == sorted(seen)


# --- install_as_epics ----------------------------------------------------------------------

INSTALL_SCRIPT = """
import sys, json
import epics_compat
epics_compat.install_as_epics()
import epics
import epics.ca, epics.dbr, epics.pv
from epics import PV, caget
from epics.autosave import save_restore
import epics.autosave.save_restore as sr2
from epics.motor import Motor
import importlib
device = importlib.import_module("epics.device")
out = {
    "epics": epics is epics_compat,
    "ca": epics.ca is epics_compat.ca and sys.modules["epics.ca"] is epics_compat.ca,
    "pv": PV is epics_compat.PV,
    "caget": caget(sys.argv[1]) if len(sys.argv) > 1 else None,
    "autosave": save_restore is epics_compat.autosave.save_restore and sr2 is save_restore,
    "device": device is epics_compat.device,
    "motor": Motor is epics_compat.Motor,
    "again": epics_compat.install_as_epics() is epics_compat,
    "name": epics.__name__,
}
print(json.dumps(out))
"""


def test_install_as_epics_aliases_every_submodule(softioc):
    code = INSTALL_SCRIPT.replace("sys.argv[1]", repr(softioc.pv("longin"))) \
        .replace("if len(sys.argv) > 1 else None", "")
    out = json.loads(run_python(code, softioc.env).splitlines()[-1])
    assert out == {"epics": True, "ca": True, "pv": True, "caget": 42, "autosave": True,
                   "device": True, "motor": True, "again": True, "name": "epics_compat"}


def test_install_as_epics_serves_third_party_modules(softioc, tmp_path):
    (tmp_path / "thirdparty.py").write_text(
        "import epics\nfrom epics.pv import get_pv\n"
        "def read(name):\n    return epics.caget(name), get_pv(name).units\n")
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
            "import epics_compat; epics_compat.install_as_epics()\n"
            "import thirdparty\n"
            f"print(thirdparty.read({softioc.pv('ai')!r}))\n"
            "print(type(thirdparty.epics.PV).__module__, thirdparty.epics.PV.__module__)\n")
    lines = run_python(code, softioc.env).splitlines()
    assert lines[-2] == "(3.25, 'mm')"
    assert lines[-1] == "builtins epics_compat.pv"


def test_install_as_epics_refuses_when_pyepics_is_imported():
    code = ("import epics\nimport epics_compat\n"
            "try:\n    epics_compat.install_as_epics()\n"
            "except ImportError as exc:\n    print(type(exc).__name__); print(exc)\n"
            "import sys\nprint(sys.modules['epics'] is epics)\n")
    lines = run_python(code, {}).splitlines()
    assert lines[0] == "EpicsImportConflict"
    assert "module 'epics' is already imported from" in lines[1]
    assert "site-packages/epics/__init__.py" in lines[1]
    assert lines[-1] == "True"  # nothing was changed


def test_install_as_epics_refuses_a_pyepics_submodule():
    code = ("import epics.dbr\nimport sys\nsys.modules.pop('epics')\n"
            "import epics_compat\ntry:\n    epics_compat.install_as_epics()\n"
            "except ImportError as exc:\n    print(exc)\n")
    message = run_python(code, {})
    assert re.search(r"module 'epics\.\w+' is already imported from \S+site-packages/epics/",
                     message), message
