"""pyepics' ``epics.wx`` (wxPython widgets for PVs): not available in epics_compat yet.

Without wxPython, importing it fails as pyepics' does (ModuleNotFoundError: No module
named 'wx'). With wxPython it fails too, saying so, since the widgets are not written
yet: README lists this.
"""
import wx  # noqa: F401  (first, so that a missing wxPython fails as in pyepics)

raise ImportError("epics_compat.wx: the wxPython PV widgets of pyepics are not "
                  "implemented in epics_compat yet")
