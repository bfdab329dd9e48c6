"""A bluesky RunEngine over ophyd devices on epics_compat emits the documents it emits
on pyepics (libca).

tests/ophyd_script.py (section ``bluesky``) runs ``count``, ``scan`` and ``rel_scan``
over an EpicsSignal, a Device of Components (softIoc records ``oph:*``; ``oph:det`` is
the square of ``oph:x``) and an EpicsMotor on the simulated motor record, once per
library in a fresh process. Documents are compared without uids and times: start
documents (plan name, arguments, motors, hints), descriptors (data keys with dtype,
shape, units, precision, limits; configuration), events (data, plausible timestamps)
and stop documents.
"""
from __future__ import annotations

import os

import pytest

from ophyd_run import LIBS, run_sections, sim_server

pytest.importorskip("ophyd")
pytest.importorskip("bluesky")
pytestmark = [pytest.mark.timeout(120), pytest.mark.differential]

SIM = f"bsk{os.getpid()}:"
RUNS = ("count", "scan signal", "scan motor", "rel_scan motor", "rel_scan device")


@pytest.fixture(scope="module")
def docs(softioc):
    with sim_server(SIM) as server:
        return {lib: run_sections(lib, ["bluesky"], softioc, server, SIM)["result"]["bluesky"]
                for lib in LIBS}


@pytest.mark.parametrize("run", RUNS)
def test_documents_match_pyepics(docs, run):
    theirs, ours = docs["pyepics"]["runs"][run], docs["epics_compat"]["runs"][run]
    assert ours["names"] == theirs["names"]
    assert ours["start"] == theirs["start"]
    assert ours["descriptors"] == theirs["descriptors"]
    assert ours["events"] == theirs["events"]
    assert ours["stop"] == theirs["stop"]
    assert ours["stop"]["exit_status"] == "success"
    assert "implausible" not in str(ours)


def test_what_the_runs_recorded(docs):
    runs = docs["epics_compat"]["runs"]
    scan = runs["scan signal"]
    assert [event["data"]["x"] for event in scan["events"]] == [-2.0, -1.0, 0.0, 1.0, 2.0]
    assert [event["data"]["det"] for event in scan["events"]] == [4.0, 1.0, 0.0, 1.0, 4.0]
    keys = scan["descriptors"][0]["data_keys"]
    assert keys["det"]["units"] == "cts" and keys["det"]["precision"] == 2
    assert keys["x"]["dtype"] == "number" and keys["x"]["shape"] == []

    motor = runs["scan motor"]
    assert [event["data"]["m"] for event in motor["events"]] == [0.0, 0.5, 1.0]
    assert motor["descriptors"][0]["configuration"]["m"]["data"]["m_velocity"] == 5.0
    rel = runs["rel_scan motor"]
    assert [event["data"]["m"] for event in rel["events"]] == [0.0, 0.5, 1.0]
    device = runs["rel_scan device"]
    assert [event["data"]["stage_x"] for event in device["events"]] == [0.0, 1.0, 2.0]
    count = runs["count"]
    assert len(count["events"]) == 3
    assert count["events"][0]["data"]["wave"] == {"ndarray": "float64",
                                                  "values": [0.5, 1.5, 2.5]}
    assert count["events"][0]["data"]["text"] == "hello ophyd"
    assert count["descriptors"][0]["data_keys"]["wave"]["shape"] == [3]
    assert count["descriptors"][0]["data_keys"]["wave"]["dtype"] == "array"
    # rel_scan puts the motors back where they started.
    assert docs["epics_compat"]["final"] == docs["pyepics"]["final"] == {"motor": 0.5,
                                                                        "x": 1.0}
