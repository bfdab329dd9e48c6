"""The documentation site (docs/, text from README.rst and the docstrings) builds with
Sphinx, warnings as errors."""
from __future__ import annotations

import subprocess
import sys

import pytest

from paths import ROOT

pytestmark = pytest.mark.timeout(300)


def test_the_docs_build_without_warnings(tmp_path):
    built = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html",
                            str(ROOT / "docs"), str(tmp_path)],
                           capture_output=True, text=True, timeout=240)
    assert built.returncode == 0, built.stderr
    quickstart = (tmp_path / "quickstart.html").read_text()
    assert "epics_compat.server.examples.simple" in quickstart
    api = (tmp_path / "api.html").read_text()
    assert "install_as_epics" in api and "Group" in api
    for page in ("migrating", "tools", "shark", "iocs", "aioca", "debugging", "benchmarks",
                 "reliability", "security", "design"):
        assert (tmp_path / f"{page}.html").is_file(), page
    assert (tmp_path / "_images" / "benchmarks.png").is_file()
    assert "caget" in api and "install_as_aioca" in api
