"""Qt widgets for PVs, as pyepics' ``epics.qt`` (its ``pvprobe_qt`` module)."""
