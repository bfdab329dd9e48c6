"""epics_compat: a pyepics-compatible Channel Access client in pure Python."""
__version__ = "0.1.0"
