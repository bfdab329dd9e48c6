"""Helpers for the tests of the pyepics user API (PV, top-level functions, Device, ...).

pyepics (libca) is the oracle. Scenario functions take the library as an argument
(``epics`` or ``epics_compat``) and run unchanged with either, which is the whole point:
``import epics_compat as epics`` must change nothing. Records written by a test module
are put back afterwards (see ``restore``), since other modules read the initial values
of ``tests/db/test.db``.
"""
from __future__ import annotations

import contextlib
import math
import sys
import time
from typing import Callable, Iterable

import numpy as np

from ioc import run_python

#: Prepended to a script run by ``run_script``: how each library is imported as ``epics``.
IMPORTS = {
    "pyepics": "import epics\n",
    "epics_compat": "import epics_compat\nepics_compat.install_as_epics()\nimport epics\n",
}


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``predicate`` until true or ``timeout``: libca's callback threads cannot be
    waited on, so the tests that compare both libraries poll."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


@contextlib.contextmanager
def restore(epics, names: Iterable[str]):
    """Put the records ``names`` back to their values on entry (empty arrays excepted)."""
    saved = {name: epics.caget(name, use_monitor=False) for name in names}
    try:
        yield saved
    finally:
        for name, value in saved.items():
            if value is None or (isinstance(value, np.ndarray) and value.size == 0):
                continue
            epics.caput(name, value, wait=True, timeout=5)


def run_script(lib: str, code: str, env: dict[str, str], timeout: float = 60.0) -> str:
    """Run ``code`` in a fresh process where ``import epics`` gives ``lib``; its stdout."""
    return run_python(IMPORTS[lib] + code, env, timeout=timeout)


def plain(value):
    """A value made comparable across libraries: arrays as (dtype, list), NaN as 'nan'."""
    if isinstance(value, np.ndarray):
        return ("ndarray", str(value.dtype), [plain(v) for v in value.tolist()])
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, dict):
        return {key: plain(val) for key, val in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    return value


def python_has(module: str) -> bool:
    """Whether ``module`` is imported in this process (for skips)."""
    return module in sys.modules
