"""epics_compat.qt (on qtpy, run for real on the offscreen Qt platform) and
epics_compat.wx (no wxPython here: it must fail at import as pyepics' does)."""
from __future__ import annotations

import importlib

import pytest

from ioc import run_python

pytestmark = pytest.mark.timeout(120)

PROBE = """
import time
from qtpy.QtWidgets import QApplication
import epics_compat as epics
from epics_compat.qt.pvprobe_qt import PVProbe

app = QApplication([])
probe = PVProbe()
probe.show()

def settle(predicate, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    return predicate()

probe.pv1name.setText({ai!r})
probe.pv1name.returnPressed.emit()
print("label", settle(lambda: probe.value.text() == "3.2500"), probe.value.text())
probe.pv2name.setText({ao!r})
probe.pv2name.returnPressed.emit()
epics.caput({ao!r}, 4.5, wait=True)
print("edit", settle(lambda: probe.pvedit.text() == "4.5"), probe.pvedit.text())
probe.pvedit.setText("6.25")
probe.pvedit.returnPressed.emit()
print("written", settle(lambda: epics.caget({ao!r}, use_monitor=False) == 6.25))
epics.caput({ao!r}, 1.5, wait=True)
"""


def test_qt_probe_shows_and_writes_pvs(softioc):
    env = {**softioc.env, "QT_QPA_PLATFORM": "offscreen"}
    out = run_python(PROBE.format(ai=softioc.pv("ai"), ao=softioc.pv("ao")), env)
    lines = dict(line.split(" ", 1) for line in out.strip().splitlines()[-3:])
    assert lines == {"label": "True 3.2500", "edit": "True 4.5", "written": "True"}, out


@pytest.mark.parametrize("module", ["wx"])
def test_without_the_toolkit_import_fails_as_in_pyepics(module):
    errors = []
    for package in ("epics", "epics_compat"):
        with pytest.raises(ImportError) as info:
            importlib.import_module(f"{package}.{module}")
        errors.append((type(info.value), str(info.value)))
    assert errors[0] == errors[1]
