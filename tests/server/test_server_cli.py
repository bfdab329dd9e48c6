"""The command line of the server: ``python -m epics_compat.server``."""
from __future__ import annotations

import json
import re
import subprocess

import pytest
from caproto_core import ChannelType, EchoRequest, EchoResponse, ReadNotifyResponse

from ioc import close_pipes
from pyserver import (RawClient, epics_compat_imports, run_pyepics, server_command,
                      subprocess_env)

pytestmark = pytest.mark.timeout(60)


def test_help_with_dash_m():
    problem = epics_compat_imports()
    if problem is not None:
        pytest.skip(f"python -m needs 'import epics_compat', which fails: {problem}")
    proc = subprocess.run(server_command("--help"), capture_output=True, text=True,
                          env=subprocess_env(), timeout=30)
    assert proc.returncode == 0 and "--motor" in proc.stdout and "--pv" in proc.stdout


@pytest.fixture
def cli_server():
    """A server subprocess with --commands; yields (process, port)."""
    enum = json.dumps([{"name": "cli:e", "type": "enum", "value": 1,
                        "enum_strs": ["Off", "On"], "units": "",
                        "status": 0}])
    process = subprocess.Popen(
        server_command("--pv", "cli:x", "double", "1.5", "--pv", "cli:a", "long[4]", "1,2,3",
                       "--pv", "cli:s", "string", "hi there", "--json", enum,
                       "--motor", "cli:m1", "--no-beacons", "--commands"),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=subprocess_env())
    try:
        line = process.stdout.readline()
        match = re.match(r"serving on 127\.0\.0\.1:(\d+) ", line)
        assert match, f"unexpected first line {line!r}"
        yield process, int(match.group(1))
    finally:
        if process.poll() is None:
            process.stdin.close()
            process.wait(10)
        close_pipes(process)


def command(process, line: str) -> str:
    process.stdin.write(line + "\n")
    process.stdin.flush()
    return process.stdout.readline().strip()


def read(client, name, data_type=None):
    channel = client.connect(name)
    client.send(channel.read(data_type))
    return client.expect(ReadNotifyResponse).data


def test_declared_pvs_and_commands(cli_server):
    process, port = cli_server
    with RawClient(port) as client:
        assert list(read(client, "cli:x")) == [1.5]
        assert list(read(client, "cli:a")) == [1, 2, 3]
        assert read(client, "cli:s") == ["hi there"]
        assert read(client, "cli:e", ChannelType.STRING) == ["On"]
        assert read(client, "cli:m1.RTYP") == ["motor"]
        assert command(process, "put cli:x 2.5") == "ok"
        assert list(read(client, "cli:x")) == [2.5]
        assert command(process, "get cli:x") == "ok 2.5"
        assert command(process, "hang True") == "ok"
        client.send(EchoRequest())
        assert client.quiet(0.3) == []
        assert command(process, "hang False") == "ok"
        client.expect(EchoResponse)
        assert command(process, "no_such_fault").startswith("error:")
        assert command(process, "drop_circuits") == "ok 1"
    assert command(process, "quit") == ""
    assert process.wait(10) == 0


def test_pyepics_reads_the_command_line_server(cli_server):
    process, port = cli_server
    env = {"EPICS_CA_ADDR_LIST": f"127.0.0.1:{port}", "EPICS_CA_AUTO_ADDR_LIST": "NO"}
    out = run_pyepics(env, "import epics\nm = epics.Motor('cli:m1')\n"
                           "print(epics.caget('cli:x'), m.move(0.2, wait=True), m.RBV)")
    assert out.split() == ["1.5", "0", "0.2"]
