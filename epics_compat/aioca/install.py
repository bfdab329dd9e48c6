"""``install_as_aioca()``: ``import aioca`` (and aioca's imports from epicscorelibs)
give this package, so that code written for aioca, ophyd-async included, runs on it with
no libca loaded."""
from __future__ import annotations

import importlib
import sys
import types

from . import cadef, dbr

#: The modules replaced, and what replaces each (names within epics_compat.aioca).
ALIASES = {"aioca": "", "aioca.types": ".types", "aioca._catools": "._catools",
           "epicscorelibs.ca.dbr": ".dbr", "epicscorelibs.ca.cadef": ".cadef"}


class AiocaImportConflict(ImportError):
    """aioca, or epicscorelibs' libca bindings, were imported before install_as_aioca()."""


def install_as_aioca() -> types.ModuleType:
    """Make ``import aioca``, ``aioca.types`` and ``epicscorelibs.ca.dbr`` / ``.cadef``
    give this package's modules. Call it before anything imports aioca (ophyd-async's
    Channel Access signals do when first used). Raises AiocaImportConflict, naming the
    module, when one of them is already imported from elsewhere: libca would then be
    loaded already. Calling it again does nothing. Returns the aioca module."""
    package = sys.modules[__package__]
    ours = {name: importlib.import_module(__package__ + suffix) if suffix else package
            for name, suffix in ALIASES.items()}
    for name, module in ours.items():
        found = sys.modules.get(name)
        if found is not None and found is not module:
            raise AiocaImportConflict(
                f"cannot install epics_compat.aioca as {name!r}: it is already imported "
                f"from {getattr(found, '__file__', found)!r}. Call "
                f"epics_compat.install_as_aioca() before anything imports aioca.")
    _parent_packages()
    sys.modules.update(ours)
    sys.modules["epicscorelibs.ca"].dbr = dbr  # type: ignore[attr-defined]
    sys.modules["epicscorelibs.ca"].cadef = cadef  # type: ignore[attr-defined]
    return package


def _parent_packages() -> None:
    """epicscorelibs and epicscorelibs.ca: the installed ones if there are (importing
    them loads no library), or empty packages standing in for them."""
    for name in ("epicscorelibs", "epicscorelibs.ca"):
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except ImportError:
            stand_in = types.ModuleType(name, "stands in for epicscorelibs (not installed)")
            stand_in.__path__ = []  # a package: its submodules come from sys.modules
            sys.modules[name] = stand_in
