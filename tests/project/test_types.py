"""The packages' annotations hold: mypy, strict on caproto_core and normal on epics_compat.
(That a user's type checker sees them, from the wheel, is in test_packaging.py.)"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from paths import ROOT

pytestmark = pytest.mark.timeout(300)


def mypy(*args: str, scratch: Path) -> subprocess.CompletedProcess[str]:
    # The cache goes to scratch: the checkout stays clean and parallel runs do not share.
    return subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(scratch / "cache"),
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=240)


@pytest.mark.parametrize("args", [("--strict", "-p", "caproto_core"), ("-p", "epics_compat")],
                         ids=["caproto_core", "epics_compat"])
def test_package_checks(args, tmp_path):
    done = mypy(*args, scratch=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
