"""pyepics' ``epics.autosave``: save PV values to a file and restore them, in synApps
autosave's request (``.req``) and save (``.sav``) file formats, over Channel Access.

Unlike pyepics, no pyparsing is needed: the request-file reader is our own.
"""
from . import save_restore

AutoSaver = save_restore.AutoSaver
restore_pvs = save_restore.restore_pvs
save_pvs = save_restore.save_pvs

__all__ = ['AutoSaver', 'restore_pvs', 'save_pvs', 'save_restore']
