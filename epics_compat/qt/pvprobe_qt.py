"""PV widgets for Qt and a small probe window, as pyepics' ``epics.qt.pvprobe_qt``.

pyepics' version needs PySide or PyQt4 (Qt 4); this one runs on any binding that qtpy
supports (PyQt5/6, PySide2/6), and fails at import, as pyepics' does, where there is none.
PV callbacks arrive on the callback thread; a queued signal hands each new text to the
widget's own (GUI) thread, since Qt widgets may only be changed there.

Run it as ``python -m epics_compat.qt.pvprobe_qt``.
"""
from __future__ import annotations

import sys
from typing import Any

from qtpy.QtCore import Signal
from qtpy.QtWidgets import QApplication, QGridLayout, QLabel, QLineEdit, QWidget

from .. import PV
from ..utils import bytes2str


class _PVWidget:
    """What both widgets share: one PV at a time, its text shown through ``textArrived``."""
    # From the widget classes it is mixed into:
    textArrived: Any
    setText: Any

    def _init_pv(self) -> None:
        self.pv: PV | None = None
        self.cb_index = None
        self.textArrived.connect(self.setText)

    def SetPV(self, pvname):
        """Show ``pvname`` from now on (the previous PV's updates stop)."""
        if self.pv is not None and self.cb_index is not None:
            self.pv.remove_callback(self.cb_index)
        self.pv = PV(bytes2str(pvname))
        self._show_now()
        self.cb_index = self.pv.add_callback(self.onPVChange)

    def _show_now(self) -> None:
        pass

    def onPVChange(self, pvname=None, char_value=None, **kws):
        self.textArrived.emit(char_value)


class PVText(_PVWidget, QLabel):
    """A label showing a PV's value as text."""
    textArrived = Signal(str)

    def __init__(self, pvname, **kws):
        QLabel.__init__(self, '', **kws)
        self._init_pv()

    def _show_now(self) -> None:
        if self.pv is not None:
            self.setText(self.pv.get(as_string=True) or '')


class PVLineEdit(_PVWidget, QLineEdit):
    """An editable line showing a PV's value; Return writes what was typed to the PV."""
    textArrived = Signal(str)

    def __init__(self, pvname=None, **kws):
        QLineEdit.__init__(self, **kws)
        self._init_pv()
        self.returnPressed.connect(self.onReturn)
        if pvname is not None:
            self.SetPV(pvname)

    def onReturn(self):
        self.pv.put(bytes2str(self.text()))


class PVProbe(QWidget):
    """A window: type a PV name to watch it, another to watch and write it."""

    def __init__(self, parent=None):
        QWidget.__init__(self, parent)
        self.setWindowTitle("PV Probe:")
        self.pv1name = QLineEdit()
        self.pv2name = QLineEdit()
        self.value = PVText(None)
        self.pvedit = PVLineEdit()
        grid = QGridLayout()
        rows = [("PV1 Name (Read-only):", self.pv1name), ("PV1 Value (Read-only):", self.value),
                ("PV2 Name: (Read-write):", self.pv2name), ("PV2 Value (Read-write):", self.pvedit)]
        for row, (label, widget) in enumerate(rows):
            grid.addWidget(QLabel(label), row, 0)
            grid.addWidget(widget, row, 1)
        self.pv1name.returnPressed.connect(self.onPV1NameReturn)
        self.pv2name.returnPressed.connect(self.onPV2NameReturn)
        self.setLayout(grid)

    def onPV1NameReturn(self):
        self.value.SetPV(self.pv1name.text())

    def onPV2NameReturn(self):
        self.pvedit.SetPV(self.pv2name.text())


if __name__ == '__main__':
    app = QApplication(sys.argv)
    probe = PVProbe()
    probe.show()
    sys.exit(app.exec_())
