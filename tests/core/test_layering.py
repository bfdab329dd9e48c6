"""caproto_core stays sans-I/O and below epics_compat (see the design notes in README.rst).

The core turns bytes into messages and state; it must not open sockets, start
threads or processes, or wait (``time.sleep``), and must not import the layer
above it. Reading the clock (``time.time``) is allowed.
"""
from __future__ import annotations

import ast

import pytest

from paths import ROOT

CORE = ROOT / "caproto_core"

FORBIDDEN = {
    "socket": "does network I/O",
    "select": "waits for I/O",
    "selectors": "waits for I/O",
    "threading": "starts threads",
    "_thread": "starts threads",
    "multiprocessing": "starts processes",
    "subprocess": "starts processes",
    "asyncio": "runs an event loop",
    "concurrent": "starts threads or processes",
    "epics_compat": "is the layer above caproto_core",
}
SLEEP = "waits: a sans-I/O core never sleeps"


def _time_sleep(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of each ``from time import sleep`` and ``time.sleep`` use."""
    aliases = {
        alias.asname or alias.name
        for node in ast.walk(tree) if isinstance(node, ast.Import)
        for alias in node.names if alias.name == "time"
    }
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "time"
                and any(alias.name in ("sleep", "*") for alias in node.names)):
            found.append((node.lineno, "from time import sleep"))
        elif (isinstance(node, ast.Attribute) and node.attr == "sleep"
              and isinstance(node.value, ast.Name) and node.value.id in aliases):
            found.append((node.lineno, f"{node.value.id}.sleep"))
    return found


def forbidden_imports(source: str, filename: str) -> list[str]:
    """``file:line: ...`` for each import of a FORBIDDEN module and each time.sleep."""
    tree = ast.parse(source, filename)
    found = [f"{filename}:{line}: uses {text} ({SLEEP})" for line, text in _time_sleep(tree)]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (  # __import__("x") and importlib.import_module("x")
            isinstance(node, ast.Call)
            and (getattr(node.func, "id", None) == "__import__"
                 or getattr(node.func, "attr", None) == "import_module")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        else:
            continue
        for name in names:
            top = name.partition(".")[0]
            if top in FORBIDDEN:
                found.append(f"{filename}:{node.lineno}: imports {name} ({FORBIDDEN[top]})")
    return found


def test_core_package_exists():
    assert (CORE / "__init__.py").is_file(), f"the caproto_core package is missing: {CORE}"


def test_core_imports_no_io_and_not_epics_compat():
    files = sorted(CORE.rglob("*.py"))
    assert files, f"no Python files under {CORE}"
    problems = []
    for path in files:
        problems += forbidden_imports(path.read_text(), str(path.relative_to(CORE.parent)))
    assert not problems, "caproto_core must stay sans-I/O:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "source, bad",
    [
        ("import socket", True),
        ("import os, threading", True),
        ("from asyncio.events import get_event_loop", True),
        ("from time import sleep", True),
        ("from time import monotonic, sleep as nap", True),
        ("import time as t\nt.sleep(1)", True),
        ("import time\ndelay = time.sleep", True),
        ("import time\nstamp = time.time()", False),
        ("from epics_compat import ca", True),
        ("import importlib\nimportlib.import_module('selectors')", True),
        ("__import__('socket')", True),
        ("import struct, enum\nfrom .messages import Version", False),
        ("from . import time", False),  # a module of the package itself
        ("import timeit_like_name", False),
    ],
)
def test_checker(source, bad):
    assert bool(forbidden_imports(source, "x.py")) == bad
