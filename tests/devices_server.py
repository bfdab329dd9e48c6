"""The pure-Python server with the simulated records of ``epics_compat.server.records``,
for the tests of ``epics.devices`` (tests/api/test_devices_sim.py).

``device_records(prefix)`` makes one set of records under ``prefix``; ``serve`` starts a
server on a free loopback port with a set per prefix (one per library under test, so
the pyepics and epics_compat runs of a scenario do not disturb each other).
``run_scenario`` runs one script with each library in subprocesses, side by side, and
returns what each printed (JSON).

    python tests/devices_server.py PREFIX [PREFIX ...]

serves the records until interrupted, for trying the devices by hand.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from typing import Iterator

from pyepics_api import IMPORTS
from pyserver import server_package

srv = server_package()
from epics_compat.server import records  # noqa: E402 -- after server_package()

LIBS = ("pyepics", "epics_compat")


def device_records(prefix: str) -> list:
    """One of each simulated record, named under ``prefix``."""
    return [
        records.Scaler(f"{prefix}scaler1", nchan=4, names=("I0", "I1", "")),
        records.Sscan(f"{prefix}scan1", mpts=50),
        srv.Motor(f"{prefix}m1", velocity=5.0, high_limit=10, low_limit=-10),
        srv.Motor(f"{prefix}m2", velocity=5.0, high_limit=10, low_limit=-10),
        records.Mca(f"{prefix}mca1", nmax=256),
        records.Struck(f"{prefix}SIS1:", nchan=4, nmax=200),
        records.SRS570(f"{prefix}A1"),
        records.Transform(f"{prefix}tran1"),
        *area_detector(prefix),
        records.Xspress3(f"{prefix}xsp:", nmca=1, nchan=512),
        records.Xspress310(f"{prefix}x10:", nmca=1, nmax=256),
        records.XMAP(f"{prefix}xmap:", nmca=2, nmax=256),
    ]


def area_detector(prefix: str) -> list:
    """A camera with an image plugin, two file plugins and an overlay."""
    cam = records.ADCam(f"{prefix}cam1:", size=(16, 8), model="Simulated PE")
    return [cam, records.ADImage(f"{prefix}image1:", cam),
            records.ADFile(f"{prefix}TIFF1:", cam), records.ADFile(f"{prefix}netCDF1:", cam),
            records.ADOverlay(f"{prefix}Over1:1:")]


@contextlib.contextmanager
def serve(prefixes) -> Iterator:
    """A running server with ``device_records`` for each prefix."""
    items = [record for prefix in prefixes for record in device_records(prefix)]
    with srv.Server(items, beacon_address=None) as server:
        yield server


def run_scenario(server, script: str, prefixes: dict[str, str], timeout: float = 60.0,
                 args: tuple = ()) -> dict[str, dict]:
    """Run ``script`` with pyepics and with epics_compat (as ``epics``) at once, each
    given its prefix as ``sys.argv[1]``; the JSON each printed last, by library."""
    env = {**os.environ, **server.client_env}
    procs = {lib: subprocess.Popen([sys.executable, "-c", IMPORTS[lib] + script,
                                    prefixes[lib], *args], env=env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for lib in LIBS}
    results = {}
    for lib, proc in procs.items():
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
            raise AssertionError(f"{lib} scenario hung:\n{stderr}") from None
        assert proc.returncode == 0, f"{lib} scenario failed:\n{stderr}"
        results[lib] = json.loads(stdout.splitlines()[-1])
    return results


if __name__ == "__main__":
    import time
    with serve(sys.argv[1:] or ["sim:"]) as running:
        print(f"serving on 127.0.0.1:{running.port}; "
              f"EPICS_CA_ADDR_LIST=127.0.0.1:{running.port}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(1)
