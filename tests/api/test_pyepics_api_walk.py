"""Every public module, name, class attribute and signature of the installed pyepics
must exist in epics_compat with the same parameter names, kinds and defaults.

The allow-list (``ALLOWED``) is short and README explains each entry: names that are
pyepics' imports of other libraries are not its API and are skipped by rule (their
``__module__`` is not pyepics').
"""
from __future__ import annotations

import importlib
import json
import inspect
import pathlib
import types

import epics
import pytest

#: (pyepics module, name) -> why epics_compat does not have it (README: "API walk").
ALLOWED = {
    ("epics", "clibs"): "pyepics' bundled libca; epics_compat loads no C library",
    ("epics.compat.ca_util", "code"): "the unexecuted source text pyepics keeps there",
    ("epics.compat.CaChannel", None): "pyepics' fails to import without wxPython, which "
                                      "it never uses; ours imports, and holds no more",
    ("epics.qt.pvprobe_qt", None): "pyepics' needs Qt 4 (PySide or PyQt4), which no "
                                   "longer installs; ours runs on any binding of qtpy",
    ("epics.multiproc", "CAProcess"): "takes the context CAPool passes positionally "
                                      "(pyepics' CAPool fails there on Python 3.8+)",
    ("epics", "CAProcess"): "the same class as epics.multiproc.CAProcess",
    ("epics.ca", "ChannelAccessException"): "pyepics' __init__(*args) also reports the "
                                            "exception being handled to sys.excepthook",
    **{("epics.autosave.save_restore", name): "pyparsing's, imported with * by pyepics; "
                                              "our autosave needs no pyparsing"
       for name in ("alphanums", "alphas", "nums", "printables", "line")},
}


def _pyepics_modules() -> list[str]:
    """Every module file of the pyepics package (namespace packages such as ``epics.qt``
    included, which pkgutil does not walk), less its bundled C libraries."""
    root = pathlib.Path(epics.__file__).parent
    names = []
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[0] == "clibs":
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(("epics",) + parts))
    if (root / "qt").is_dir():
        names.append("epics.qt")
    return sorted(set(names))


MODULES = _pyepics_modules()


def _import(name: str):
    try:
        return importlib.import_module(name), None
    except Exception as exc:  # pyepics' own modules may fail (no wx, no Qt 4)
        return None, exc


def _own_names(module) -> list[str]:
    """The public names pyepics defines (or re-exports from itself) in ``module``."""
    names = []
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(value, types.ModuleType):
            continue
        origin = getattr(value, "__module__", None)
        if (callable(value) or inspect.isclass(value)) and origin is not None \
                and not origin.startswith("epics"):
            continue  # imported from elsewhere (ctypes, copy, ...): not pyepics' API
        if name == "annotations" and value.__class__.__name__ == "_Feature":
            continue  # from __future__ import annotations
        names.append(name)
    return names


def _signature(function) -> list | None:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    return [(p.name, p.kind, _default(p.default)) for p in signature.parameters.values()]


def _default(value):
    if value is inspect.Parameter.empty or isinstance(value, (int, float, str, bytes,
                                                               bool, type(None), tuple)):
        return value
    return type(value).__name__


def _differences(theirs, ours, where: str) -> list[str]:
    found = []
    if inspect.isclass(theirs):
        if not inspect.isclass(ours):
            return [f"{where}: a class in pyepics, {type(ours).__name__} here"]
        for attribute in dir(theirs):
            if attribute.startswith("__") and attribute != "__init__":
                continue
            if attribute.startswith("_") and not attribute.startswith("__"):
                continue
            if not hasattr(ours, attribute):
                found.append(f"{where}.{attribute}: missing")
                continue
            mine, their = getattr(ours, attribute), getattr(theirs, attribute)
            if callable(their) and not inspect.isclass(their):
                if _signature(their) is not None and _signature(their) != _signature(mine):
                    found.append(f"{where}.{attribute}: {_signature(their)} != "
                                 f"{_signature(mine)}")
    elif callable(theirs):
        if _signature(theirs) is not None and _signature(theirs) != _signature(ours):
            found.append(f"{where}: {_signature(theirs)} != {_signature(ours)}")
    return found


@pytest.mark.parametrize("name", MODULES)
def test_module_matches_pyepics(name):
    theirs, their_error = _import(name)
    ours_name = "epics_compat" + name[len("epics"):]
    if ("epics", name.split(".", 1)[-1]) in ALLOWED or (name, None) in ALLOWED:
        return
    ours, our_error = _import(ours_name)
    if their_error is not None:
        # pyepics cannot import it here (its toolkit is missing): neither may we, alike.
        assert our_error is not None, f"{ours_name} imports where {name} fails: {their_error!r}"
        assert type(our_error) is type(their_error), (their_error, our_error)
        return
    assert our_error is None, f"{ours_name} fails to import: {our_error!r}"
    problems = []
    for attribute in _own_names(theirs):
        if (name, attribute) in ALLOWED:
            continue
        if not hasattr(ours, attribute):
            problems.append(f"{name}.{attribute}: missing")
            continue
        problems += _differences(getattr(theirs, attribute), getattr(ours, attribute),
                                 f"{name}.{attribute}")
    assert not problems, "\n".join(problems)


def test_every_allowance_is_still_needed():
    """An allow-list entry that nothing needs any more must go (README with it)."""
    for module, name in ALLOWED:
        theirs, _ = _import(module)
        assert theirs is not None or name is None, module
        if name is not None and (module, name) != ("epics", "clibs"):  # a subpackage
            assert hasattr(theirs, name), (module, name)


def test_install_as_epics_aliases_every_module():
    """After install_as_epics(), each pyepics module name gives ours (or fails alike)."""
    script = f"""
import importlib, json, sys
import epics_compat
epics_compat.install_as_epics()
results = {{}}
for name in {MODULES!r}:
    try:
        module = importlib.import_module(name)
    except Exception as exc:
        results[name] = type(exc).__name__
    else:
        results[name] = module.__name__
print(json.dumps(results))
"""
    from ioc import run_python
    results = json.loads(run_python(script, {"QT_QPA_PLATFORM": "offscreen"}))
    for name, outcome in results.items():
        theirs, their_error = _import(name)
        if ("epics", name.split(".", 1)[-1]) in ALLOWED or (name, None) in ALLOWED:
            continue
        expected = type(their_error).__name__ if their_error else \
            "epics_compat" + name[len("epics"):]
        assert outcome == expected, (name, outcome)
