"""Start the pure-Python CA server (``epics_compat.server``) for the tests.

``epics_compat.server`` imports only the standard library, numpy and caproto_core, so it
can run while the client half of ``epics_compat`` is being written: if
``import epics_compat`` fails, ``server_package()`` loads the server package on its own,
without running ``epics_compat/__init__.py``, and ``server_command()`` starts the command
line the same way.

``RawClient`` and ``search`` talk to a server through caproto_core's CLIENT role, for tests
that need to see the exact messages; ``run_pyepics`` runs pyepics (libca), the reference
client, in a fresh process pointed at one server.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

from caproto_core import (CLIENT, SERVER, Broadcaster, ClientNameRequest,
                          CreateChanResponse, CreateChFailResponse, HostNameRequest, SearchReply, SearchRequest, VersionRequest, VirtualCircuit,
                          read_stream)

from ioc import run_python

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = ROOT / "epics_compat" / "server"

#: Starts the command line of a server package loaded by path (see ``server_command``).
_BOOTSTRAP = """\
import importlib.util, sys
init = {init!r}
spec = importlib.util.spec_from_file_location("epics_compat.server", init,
                                              submodule_search_locations=[{package!r}])
module = importlib.util.module_from_spec(spec)
sys.modules["epics_compat.server"] = module
spec.loader.exec_module(module)
from epics_compat.server.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


@functools.lru_cache(maxsize=None)
def epics_compat_imports() -> str | None:
    """None if ``import epics_compat`` works in a fresh process, else its error."""
    proc = subprocess.run([sys.executable, "-c", "import epics_compat"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    return None if proc.returncode == 0 else proc.stderr.strip().splitlines()[-1]


def server_package() -> ModuleType:
    """``epics_compat.server``, imported normally when possible, else by its path."""
    try:
        import epics_compat.server as package
        return package
    except Exception:  # the rest of epics_compat does not import (yet)
        pass
    init = PACKAGE_DIR / "__init__.py"
    spec = importlib.util.spec_from_file_location(
        "epics_compat.server", init, submodule_search_locations=[str(PACKAGE_DIR)])
    package = importlib.util.module_from_spec(spec)
    sys.modules["epics_compat.server"] = package
    spec.loader.exec_module(package)
    return package


def server_command(*args: str) -> list[str]:
    """argv that runs ``python -m epics_compat.server *args`` (by path if need be)."""
    if epics_compat_imports() is None:
        return [sys.executable, "-m", "epics_compat.server", *args]
    code = _BOOTSTRAP.format(init=str(PACKAGE_DIR / "__init__.py"), package=str(PACKAGE_DIR))
    return [sys.executable, "-c", code, *args]


def subprocess_env() -> dict[str, str]:
    """os.environ with the repository on PYTHONPATH."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else "")}


# --- a minimal blocking client on caproto_core, for protocol-level tests -------------------


class RawClient:
    """One TCP circuit to a server, driven step by step by a test.

    Every message goes through the core's ``VirtualCircuit(CLIENT)``, so the server's
    answers are checked against the protocol's state tables on the way in.
    """

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 3.0,
                 check: bool = True, max_payload_size: int = 100_000_000):
        self.sock = socket.create_connection((host, port), timeout)
        self.timeout = timeout
        self.circuit = VirtualCircuit(CLIENT, (host, port), max_payload_size=max_payload_size)
        self.check = check
        self._pending: list = []
        self.send(VersionRequest(0), HostNameRequest("tester"), ClientNameRequest("tester"))

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "RawClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, *messages) -> None:
        self.sock.sendall(b"".join(bytes(b) for b in self.circuit.send(*messages)))

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def next(self, timeout: float | None = None):
        """The next message from the server (AssertionError if none comes in time)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("no message from the server in time")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            if not data:
                raise ConnectionError("the server closed the circuit")
            if self.check:
                self._pending.extend(self.circuit.recv(data))
            else:
                messages, _ = read_stream(data, SERVER)
                self._pending.extend(messages)
        return self._pending.pop(0)

    def expect(self, cls, timeout: float | None = None):
        """The next message, which must be a ``cls``."""
        message = self.next(timeout)
        assert isinstance(message, cls), f"expected {cls.__name__}, got {message!r}"
        return message

    def quiet(self, seconds: float = 0.2) -> list:
        """Every message that arrives within ``seconds`` (for 'nothing more comes')."""
        got = []
        deadline = time.monotonic() + seconds
        while True:
            try:
                got.append(self.next(max(0.0, deadline - time.monotonic())))
            except AssertionError:
                return got

    def connect(self, name: str):
        """A connected channel to ``name`` (its ACCESS_RIGHTS and CREATE_CHAN read)."""
        channel = self.circuit.new_channel(name)
        self.send(channel.create())
        while True:
            message = self.next()
            if getattr(message, "cid", None) != channel.cid:
                continue
            if isinstance(message, CreateChFailResponse):
                raise LookupError(f"the server refused channel {name!r}")
            if isinstance(message, CreateChanResponse):
                return channel


def search(port: int, *names: str, reply: int = SearchReply.DONT_REPLY,
           timeout: float = 0.3, host: str = "127.0.0.1") -> list:
    """Messages of the datagrams a server sends back to one search datagram."""
    broadcaster = Broadcaster(CLIENT)
    requests = [SearchRequest(name, cid, reply=reply) for cid, name in enumerate(names, 1)]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        for datagram in broadcaster.search_datagrams(requests):
            sock.sendto(datagram, (host, port))
        messages = []
        deadline = time.monotonic() + timeout
        while True:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = sock.recv(65536)
            except socket.timeout:
                return messages
            messages.extend(broadcaster.recv(data))
            if time.monotonic() >= deadline:
                return messages


def run_pyepics(env: dict[str, str], code: str, timeout: float = 60.0) -> str:
    """Run ``code`` (which imports epics) in a fresh process with the client ``env``."""
    return run_python(code, env, timeout=timeout)
