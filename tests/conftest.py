"""Shared fixtures: the softIoc test server and the CA client environment.

The client environment is put into ``os.environ`` when this file is imported,
i.e. before any test module can import pyepics: libca reads
``EPICS_CA_ADDR_LIST`` and friends once, when its context is created, and
must then look for the test IOC only, on 127.0.0.1 and on this run's port.
"""
from __future__ import annotations

import os

import pytest

from ioc import SoftIoc, client_env, find_free_port

#: The CA server port of this run's softIoc, reserved now, bound when the IOC starts.
IOC_PORT = find_free_port()
#: Record name prefix unique to this run, so no other IOC can answer our searches.
IOC_PREFIX = f"ec{os.getpid()}:"

os.environ.update(client_env(IOC_PORT))


@pytest.fixture(scope="session")
def softioc(tmp_path_factory) -> SoftIoc:
    """The softIoc serving ``tests/db/test.db``, started once per test session.

    Attributes: ``port``, ``prefix`` (prepend to the record names of
    ``test.db``, or use ``softioc.pv("ai")``) and ``env`` (the client
    environment, already in ``os.environ``; pass it to subprocesses).
    """
    log = tmp_path_factory.mktemp("softioc") / "softioc.log"
    with SoftIoc(port=IOC_PORT, prefix=IOC_PREFIX, log_path=log) as ioc:
        yield ioc


@pytest.fixture
def lab():
    """Pure-Python servers, a repeater and client contexts for one test (see
    tests/reliability.py); all closed afterwards."""
    from reliability import Lab
    lab = Lab()
    yield lab
    lab.close()
