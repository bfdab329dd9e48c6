"""epics_compat.aioca against real aioca (libca): the same scenarios, the same results.

Each scenario of ``aioca_scenarios.py`` runs in a fresh process through each library,
against an IOC of this module's own, and prints what it saw: values with their aioca
types and augmented fields, errors (CANothing and its code), monitor sequences.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ioc import SoftIoc, find_free_port

pytestmark = pytest.mark.timeout(180)

from paths import TESTS
SCRIPT = TESTS / "aioca_scenarios.py"
LIBS = ("aioca", "epics_compat")


@pytest.fixture(scope="module")
def ioc(tmp_path_factory):
    log = tmp_path_factory.mktemp("aioca") / "softioc.log"
    with SoftIoc(port=find_free_port(), prefix="aio:", log_path=log) as ioc:
        yield ioc


def run(lib: str, ioc: SoftIoc, scenario: str, *extra: str, env=None) -> object:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), lib, ioc.prefix, scenario, *extra],
        env={**os.environ, **(env or ioc.env),
             "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)])},
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{lib} {scenario}:\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def both(ioc: SoftIoc, scenario: str, *extra: str, env=None) -> tuple:
    theirs, ours = (run(lib, ioc, scenario, *extra, env=env) for lib in LIBS)
    return theirs, ours


@pytest.mark.parametrize("scenario", ["gets", "datatypes", "puts", "failures", "monitors"])
def test_scenario_agrees_with_aioca(ioc, scenario):
    theirs, ours = both(ioc, scenario)
    assert theirs.keys() == ours.keys()
    differ = {key: {"aioca": theirs[key], "ours": ours[key]} for key in theirs
              if ours[key] != theirs[key]}
    assert not differ, json.dumps(differ, indent=1)


def test_an_ioc_restart_is_seen_as_aioca_sees_it(ioc, tmp_path):
    port = find_free_port()
    own = SoftIoc(port=port, prefix="aiore:", log_path=tmp_path / "ioc.log")
    args = (str(port), own.prefix, str(own.db), str(tmp_path / "restart.log"))
    theirs, ours = both(ioc, "reconnect", *args, env=own.env)
    assert ours == theirs
    values = [item if not isinstance(item, dict) or "value" not in item else item["value"]
              for item in ours["seen"]]
    assert {"CANothing": [own.prefix + "ao", 192, False,
                          own.prefix + "ao: Virtual circuit disconnect"]} in values
