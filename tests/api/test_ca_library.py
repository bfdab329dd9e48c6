"""pyepics' questions about the C library, answered without one: find_lib,
clib_search_path, and the printf handler that receives what libca would print."""
from __future__ import annotations

import logging
import os
import subprocess
import sys

import epics.ca as pca
import pytest

import epics_compat.ca as eca


def test_clib_search_path_names_the_platform_library_as_pyepics():
    for lib in ("ca", "Com"):
        assert eca.clib_search_path(lib) == pca.clib_search_path(lib)


def test_find_lib_honours_pyepics_libca(tmp_path, monkeypatch):
    libca = tmp_path / "libca.so.7"
    libca.write_bytes(b"")
    (tmp_path / "libCom.so.7").write_bytes(b"")
    monkeypatch.setenv("PYEPICS_LIBCA", str(libca))
    assert eca.find_lib() == pca.find_lib() == str(libca)
    assert eca.find_lib("Com") == str(tmp_path / "libCom.so.7")


def test_find_lib_without_any_libca_raises_as_pyepics():
    """A process that never imported epicscorelibs, on a system without libca (this one):
    the same exception pyepics raises when it finds no library."""
    script = ("import epics_compat.ca as ca\n"
              "try:\n    print(ca.find_lib())\n"
              "except ca.ChannelAccessException as exc:\n    print('raised', exc)\n")
    env = {"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": "",
           "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.stdout.strip() == "raised cannot find Epics CA DLL", out


def test_find_lib_finds_epicscorelibs_when_imported():
    import epicscorelibs.path  # noqa: F401  (what pyepics also looks for)
    found = eca.find_lib()
    assert "epicscorelibs" in found and os.path.basename(found).startswith("libca.so")
    assert os.path.isfile(found)


@pytest.fixture
def restore_printf():
    yield
    eca.disable_ca_messages()
    for log in eca._CA_LOGGERS:
        log.removeHandler(eca.ca_printf)


def test_printf_handler_receives_warnings_until_disabled(restore_printf):
    got = []
    assert eca.replace_printf_handler(got.append) == 1
    logging.getLogger("epics_compat.context").warning("circuit to %s lost", "x:1")
    logging.getLogger("epics_compat.context").info("not printed by libca either")
    assert got == ["circuit to x:1 lost\n"]
    eca.disable_ca_messages()
    logging.getLogger("caproto_core.circuit").error("dropped")
    assert got == ["circuit to x:1 lost\n"]


def test_printf_handler_must_be_callable(restore_printf):
    with pytest.raises(eca.ChannelAccessException, match="must be callable"):
        eca.replace_printf_handler("not callable")
