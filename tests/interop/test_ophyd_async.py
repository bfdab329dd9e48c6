"""ophyd-async's Channel Access devices on epics_compat.aioca, against a softIoc and the
pure-Python motor: the same reads, sets, subscriptions and bluesky documents as with real
aioca, and no libca loaded in the process."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ioc import ExampleIoc, SoftIoc, find_free_port

pytestmark = pytest.mark.timeout(240)

from paths import TESTS
SCRIPT = TESTS / "ophyd_async_scenario.py"


@pytest.fixture(scope="module")
def iocs(tmp_path_factory):
    log = tmp_path_factory.mktemp("ophyd_async") / "softioc.log"
    with SoftIoc(port=find_free_port(), prefix="oa:", log_path=log) as softioc:
        motors = ExampleIoc("motor", "oam:")
        try:
            env = dict(softioc.env, EPICS_CA_ADDR_LIST=f"127.0.0.1:{softioc.port} "
                                                       f"127.0.0.1:{motors.port}")
            yield softioc, motors, env
        finally:
            motors.stop()


def run(lib: str, iocs) -> dict:
    softioc, motors, env = iocs
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), lib, softioc.prefix, motors.prefix],
        env={**os.environ, **env, "PYTHONPATH": str(TESTS.parent)},
        capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"{lib}:\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def unordered_keys(documents: list) -> list:
    """Documents with each descriptor's object_keys sorted: their order is the order in
    which the signals' describe() calls finished, which varies with either library."""
    for name, document in documents:
        if name == "descriptor":
            for device, keys in document["object_keys"].items():
                document["object_keys"][device] = sorted(keys)
    return documents


def test_ophyd_async_devices_behave_as_with_aioca_and_no_libca_is_loaded(iocs):
    theirs, ours = run("aioca", iocs), run("epics_compat", iocs)
    assert theirs["libca loaded"] is True  # the check can see libca when it is there
    assert ours["libca loaded"] is False
    for key in ("values", "read", "describe", "subscribed", "motor"):
        assert ours[key] == theirs[key], key
    assert unordered_keys(ours["documents"]) == unordered_keys(theirs["documents"])
    names = [name for name, _ in ours["documents"]]
    assert names[0] == "start" and names[-1] == "stop" and names.count("event") == 3
