"""Command-line tools, argument-compatible with EPICS base's catools.

=================  ====================================  ===============================
console script     module (``python -m ...``)            EPICS base counterpart
=================  ====================================  ===============================
``epics-caget``    ``epics_compat.caget``                ``caget``
``epics-caput``    ``epics_compat.caput``                ``caput``
``epics-camonitor`` ``epics_compat.camonitor``           ``camonitor``
``epics-cainfo``   ``epics_compat.cainfo``               ``cainfo``
=================  ====================================  ===============================

Each tool is a module here with a ``main(argv=None) -> exit status``; ``_format`` lays
out values and lines as EPICS base's ``tool_lib.c`` does, ``_common`` parses options and
connects channels on a client context of its own.
"""
from __future__ import annotations

import sys
import types


def stand_aside(module_name: str) -> None:
    """Called by ``epics_compat.caget`` (etc.) when imported instead of run with ``-m``.

    The package has a function of the same name (pyepics' ``epics.caget``); the import
    system would replace that attribute by the module. Putting the function in the
    module's place in ``sys.modules`` keeps ``epics_compat.caget`` the function.
    """
    package_name, _, attribute = module_name.rpartition(".")
    function = getattr(sys.modules.get(package_name), attribute, None)
    if function is not None and not isinstance(function, types.ModuleType):
        sys.modules[module_name] = function
