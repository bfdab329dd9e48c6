"""Run the EPICS 7 softIoc from ``epicscorelibs`` for the integration tests.

The IOC runs in a subprocess of its own: this file, run as a script, loads
``base.dbd`` (CA server only, no PV Access), an access security file and
``tests/db/test.db``, calls ``iocInit`` and then waits until its stdin reaches
EOF. The test process holds the other end of that pipe, so the IOC also goes
away if pytest dies without running its teardown.

Everything stays on 127.0.0.1, on a port picked for this run, with a record
prefix unique to this run, so that several test runs (or a production IOC) on
the same machine never see each other.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent
TEST_DB = TESTS_DIR / "db" / "test.db"

#: Array size limit for the server. The rsrv of EPICS 7.0.10 serves ``wbig`` (8 MB)
#: without it too, but older servers stop at 16 kB by default: state it explicitly.
SERVER_MAX_ARRAY_BYTES = 100_000_000

#: Access security for the IOC: everything writable except ASG ``READONLY``.
ACCESS_SECURITY = """\
ASG(DEFAULT) {
    RULE(1, WRITE)
}
ASG(READONLY) {
    RULE(1, READ)
}
"""

STARTUP_TIMEOUT = 30.0


def find_free_port(host: str = "127.0.0.1") -> int:
    """Return a port that is free for both TCP and UDP on ``host``.

    CA uses the same number for the server's TCP listener and its UDP search
    socket, so both must be free. The port is released again before returning:
    the caller must start the server soon.
    """
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError(f"found no port free for both TCP and UDP on {host}")


def close_pipes(proc: subprocess.Popen) -> None:
    """Close the pipes of a process that has ended (or been killed and waited for): left
    to the garbage collector, each would be a ResourceWarning."""
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            try:
                stream.close()
            except OSError:  # a broken pipe to a process that died: closed all the same
                pass


def client_env(port: int) -> dict[str, str]:
    """Environment for a CA client that must find only the test IOC on ``port``."""
    return {
        "EPICS_CA_ADDR_LIST": f"127.0.0.1:{port}",
        "EPICS_CA_AUTO_ADDR_LIST": "NO",
        "EPICS_CA_SERVER_PORT": str(port),
        # Beacons of this IOC reach its clients through a repeater of their own.
        "EPICS_CA_REPEATER_PORT": str(port + 1),
    }


def server_env(port: int) -> dict[str, str]:
    """Environment for the softIoc: CA server on loopback, on ``port`` only."""
    return {
        "EPICS_CAS_INTF_ADDR_LIST": "127.0.0.1",
        "EPICS_CAS_BEACON_ADDR_LIST": "127.0.0.1",
        "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
        "EPICS_CAS_SERVER_PORT": str(port),
        "EPICS_CA_SERVER_PORT": str(port),
        "EPICS_CAS_BEACON_PORT": str(port + 1),
        # The IOC's own CA client (used by CA links) must stay on loopback too.
        "EPICS_CA_ADDR_LIST": "127.0.0.1",
        "EPICS_CA_AUTO_ADDR_LIST": "NO",
        "EPICS_CA_MAX_ARRAY_BYTES": str(SERVER_MAX_ARRAY_BYTES),
    }


@dataclass
class SoftIoc:
    """A softIoc subprocess serving ``tests/db/test.db`` with prefix ``prefix``.

    ``env`` holds the client environment variables for this IOC (see
    :func:`client_env`); ``log_path`` receives the IOC's stdout and stderr.
    """

    port: int
    prefix: str
    db: Path = TEST_DB
    log_path: Path | None = None
    env: dict[str, str] = field(init=False)
    process: subprocess.Popen | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.env = client_env(self.port)

    def pv(self, name: str) -> str:
        """Full PV name of record or field ``name`` (``"ai"``, ``"ai.EGU"``)."""
        return self.prefix + name

    def start(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Start the IOC and return once its CA server accepts TCP connections."""
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="softioc-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        env = {**os.environ, **server_env(self.port)}
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, __file__, str(self.db), f"P={self.prefix}"],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        try:
            self._wait_until_up(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_until_up(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"softIoc exited with status {self.process.returncode} before its "
                    f"CA server came up on 127.0.0.1:{self.port}\n{self.log_tail()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"softIoc CA server not listening on 127.0.0.1:{self.port} after "
                    f"{timeout} s\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the IOC: close its stdin, then terminate, then kill."""
        proc, self.process = self.process, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            pass
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines the IOC printed, for error messages."""
        if self.log_path is None or not self.log_path.exists():
            return "(no softIoc log)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return "softIoc log tail:\n" + "\n".join(text[-lines:])

    def __enter__(self) -> SoftIoc:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def run_python(code: str, env: dict[str, str], timeout: float = 60.0) -> str:
    """Run ``code`` in a fresh Python process with the CA client ``env``; return stdout.

    For differential tests: pyepics (libca) in a separate process cannot share
    state with the client under test. Raises ``AssertionError`` with stderr if
    the snippet fails.
    """
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"snippet exited with status {proc.returncode}\n--- code\n{code}\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return proc.stdout


def _serve(db: str, macros: str) -> None:
    """Subprocess side: load the databases, start the IOC, wait for stdin EOF."""
    from epicscorelibs import ioc

    with tempfile.NamedTemporaryFile("w", suffix=".acf", delete=False) as acf:
        acf.write(ACCESS_SECURITY)
    try:
        ioc.iocshRegisterCommon()
        if ioc.dbLoadDatabase(b"base.dbd", ioc.DEFAULT_DBD_PATH.encode(), None):
            raise RuntimeError(f"cannot load base.dbd from {ioc.DEFAULT_DBD_PATH}")
        if ioc.registerRecordDeviceDriver(ioc.pdbbase):
            raise RuntimeError("registerRecordDeviceDriver failed")
        if ioc.dbLoadRecords(db.encode(), macros.encode()):
            raise RuntimeError(f"cannot load {db} with macros {macros!r}")
        if ioc.ioc(f'asSetFilename("{acf.name}")'):
            raise RuntimeError("asSetFilename failed")
        if ioc.iocInit():
            raise RuntimeError("iocInit failed")
    finally:
        # iocInit has read the file by now (or failed).
        os.unlink(acf.name)
    print("softIoc running", flush=True)
    sys.stdin.buffer.read()


if __name__ == "__main__":
    _serve(*sys.argv[1:3])


class ExampleIoc:
    """``python -m epics_compat.server.examples.<name>`` on loopback, on a free port."""

    def __init__(self, name: str, prefix: str):
        self.port = find_free_port()
        self.prefix = prefix
        self.env = client_env(self.port)
        server_env = {"EPICS_CAS_SERVER_PORT": str(self.port),
                      "EPICS_CAS_INTF_ADDR_LIST": "127.0.0.1",
                      "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
                      "EPICS_CAS_BEACON_ADDR_LIST": f"127.0.0.1:{self.port + 1}"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"epics_compat.server.examples.{name}",
             "--prefix", prefix, "--list-pvs"],
            env={**os.environ, **server_env}, stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                assert self.process.poll() is None, "the example IOC exited"
                assert time.monotonic() < deadline, "the example IOC did not come up"
                time.sleep(0.05)

    def stop(self) -> str:
        self.process.terminate()
        out, _ = self.process.communicate(timeout=10)
        return out
