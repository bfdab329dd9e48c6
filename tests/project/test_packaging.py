"""The package builds (sdist and wheel), and the wheel installed into a fresh virtual
environment, with nothing else, gives working console scripts."""
from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

from paths import DATA, ROOT

CAPTURE = DATA / "libca_rsrv.pcap"

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The bin directory of a new venv holding only the freshly built wheel."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel",
                    "--outdir", str(out), str(ROOT)], check=True, capture_output=True,
                   timeout=240)
    wheels = list(out.glob("epics_compat-*.whl"))
    assert len(wheels) == 1 and list(out.glob("epics_compat-*.tar.gz"))
    environment = out / "venv"
    venv.create(environment, with_pip=True)
    bin_dir = environment / "bin"
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "--no-deps",
                    "--no-index", str(wheels[0])], check=True, capture_output=True,
                   timeout=120)
    return bin_dir


def run(bin_dir: Path, *command: str) -> str:
    """stdout and stderr (EPICS base's tools print their help to stderr) of a command."""
    done = subprocess.run([str(bin_dir / command[0]), *command[1:]], capture_output=True,
                          text=True, timeout=60, cwd=bin_dir)  # not the source tree
    assert done.returncode == 0, done
    return done.stdout + done.stderr


@pytest.mark.parametrize("tool", ["epics-caget", "epics-caput", "epics-camonitor",
                                  "epics-cainfo", "epics-shark"])
def test_console_scripts_run_from_the_wheel(installed, tool):
    assert "usage" in run(installed, tool, "-h").lower()


def test_the_wheel_is_the_package_not_the_source_tree(installed):
    where = run(installed, "python", "-c", "import epics_compat, caproto_core; "
                "print(epics_compat.__file__); print(caproto_core.__file__)")
    assert str(ROOT) not in where and "site-packages" in where


def test_shark_reads_the_capture_from_the_wheel(installed):
    lines = run(installed, "epics-shark", str(CAPTURE), "--pv", "cap:ai",
                "--server-port", "5064").splitlines()
    assert lines and all(line.endswith("pv=cap:ai") for line in lines)


def test_the_example_ioc_ships_in_the_wheel(installed):
    assert "--prefix" in run(installed, "python", "-m",
                             "epics_compat.server.examples.simple", "--help")


def test_the_wheel_says_its_packages_are_typed(installed):
    found = run(installed, "python", "-c", "import importlib.resources as r; "
                "print(r.files('caproto_core').joinpath('py.typed').is_file(), "
                "r.files('epics_compat').joinpath('py.typed').is_file())")
    assert found.split() == ["True", "True"]


USER_SCRIPT = """
import caproto_core as ca

request = ca.ReadNotifyRequest(data_type=ca.ChannelType.TIME_DOUBLE, data_count=1,
                               sid=3, ioid=7)
ioid: int = request.ioid
circuit = ca.VirtualCircuit(ca.CLIENT, ("127.0.0.1", 5064))
buffers: list[bytes | memoryview] = circuit.send(ca.VersionRequest())
"""


def test_a_users_type_checker_sees_the_wheels_types(installed, tmp_path):
    def check(source: str) -> subprocess.CompletedProcess[str]:
        script = tmp_path / "user.py"
        script.write_text(source)
        return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--python-executable",
                               str(installed / "python"), "--cache-dir", str(tmp_path / "c"),
                               str(script)], capture_output=True, text=True, timeout=120,
                              cwd=tmp_path)

    done = check(USER_SCRIPT)
    assert done.returncode == 0, done.stdout + done.stderr
    # Wrong uses are reported: the types are real, not Any.
    done = check(USER_SCRIPT + "wrong: str = ca.ReadNotifyRequest(1, 1, 'x', 2).ioid\n")
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'Argument 3 to "ReadNotifyRequest" has incompatible type "str"' in done.stdout
    assert 'expression has type "int", variable has type "str"' in done.stdout
