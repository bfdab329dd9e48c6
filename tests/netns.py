"""Real networks for the tests: Linux network namespaces joined by veth pairs.

``Networks`` makes three namespaces: ``a`` on network 1 (10.231.1.0/24), ``b`` on network
2 (10.231.2.0/24), and ``c``, attached to both, as a workstation on a controls and an
office network. Each namespace has a network stack of its own (interfaces, routes,
ports): what runs there sees only these networks and its own loopback, there is no
route out of them, and several test runs at once (names carry the pid) cannot meet.
That also makes the CA default ports free in each namespace, so the clients and servers
there run with the default environment.

Needs root and iproute2 (``ip netns``); ``unavailable()`` says why not, for a skip.
"""
from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ioc import close_pipes

NETWORK_1 = "10.231.1"
NETWORK_2 = "10.231.2"
_PREFIX = "ec-netif-"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check,
                          timeout=30)


def unavailable() -> str | None:
    """Why namespaces cannot be made here (None: they can)."""
    if not sys.platform.startswith("linux"):
        return "network namespaces are Linux only"
    if os.geteuid() != 0:
        return "making network namespaces needs root (CI runs as root)"
    if shutil.which("ip") is None:
        return "iproute2's 'ip' command is not installed"
    probe = f"{_PREFIX}probe-{os.getpid()}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"'ip netns add' failed: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


def remove_stale() -> None:
    """Remove namespaces left by test runs whose process is gone (killed runs)."""
    listing = _ip("netns", "list", check=False).stdout.split("\n")
    for line in listing:
        name = line.split(" ")[0]
        if not name.startswith(_PREFIX):
            continue
        pid = name[len(_PREFIX):].split("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            _kill_all_in(name)
            _ip("netns", "del", name, check=False)


def _kill_all_in(namespace: str) -> None:
    """Kill what still runs in one of our namespaces (e.g. a CA repeater that a client
    started there): a namespace with a process in it outlives ``ip netns del``."""
    pids = _ip("netns", "pids", namespace, check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


class Networks:
    """Namespaces ``a`` (10.231.1.2), ``b`` (10.231.2.2), ``c`` (10.231.1.1 and
    10.231.2.1), and ``lone``, with its loopback interface only. ``close()`` removes
    them and whatever still runs in them."""

    def __init__(self) -> None:
        tag = f"{_PREFIX}{os.getpid()}-{time.monotonic_ns() % 100000}"
        self.a, self.b, self.c = f"{tag}-a", f"{tag}-b", f"{tag}-c"
        self.lone = f"{tag}-lone"
        self.made: list[str] = []
        try:
            for namespace in (self.a, self.b, self.c, self.lone):
                _ip("netns", "add", namespace)
                self.made.append(namespace)
                _ip("-n", namespace, "link", "set", "lo", "up")
            self._link(self.c, "net1", f"{NETWORK_1}.1", self.a, "net1", f"{NETWORK_1}.2")
            self._link(self.c, "net2", f"{NETWORK_2}.1", self.b, "net2", f"{NETWORK_2}.2")
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _link(left: str, left_name: str, left_ip: str,
              right: str, right_name: str, right_ip: str) -> None:
        """A veth pair made straight inside the two namespaces (no name in the host's)."""
        _ip("link", "add", left_name, "netns", left, "type", "veth",
            "peer", "name", right_name, "netns", right)
        for namespace, name, address in ((left, left_name, left_ip),
                                         (right, right_name, right_ip)):
            _ip("-n", namespace, "addr", "add", f"{address}/24", "brd", "+", "dev", name)
            _ip("-n", namespace, "link", "set", name, "up")

    def close(self) -> None:
        for namespace in self.made:
            _kill_all_in(namespace)
            _ip("netns", "del", namespace, check=False)
        self.made = []

    def routes(self, namespace: str) -> list[str]:
        return _ip("-n", namespace, "-4", "route", "show", "table", "all").stdout.splitlines()


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any EPICS_* variable: the CA defaults."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPICS_")}
    env.update(extra)
    return env


class Process:
    """A process started inside a namespace; a thread collects its stdout lines."""

    def __init__(self, namespace: str, argv: list[str], env: dict[str, str]):
        self.proc = subprocess.Popen(["ip", "netns", "exec", namespace, *argv], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.output.append(line)
            self.lines.put(line)
        self.lines.put("")  # the end

    def wait_for_line(self, text: str, timeout: float) -> str:
        """The first further line holding ``text``; AssertionError (with the output so
        far) if none comes within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = ""
            if text in line:
                return line
            if not line:
                raise AssertionError(f"no line with {text!r} from {self.proc.args[3:]} "
                                     f"within {timeout} s; output:\n{''.join(self.output)}")

    def stop(self, timeout: float = 5.0) -> str:
        """Close its stdin, then SIGTERM, then SIGKILL; all it printed."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        for signal_it in (None, self.proc.terminate, self.proc.kill):
            if signal_it is not None:
                signal_it()
            try:
                self.proc.wait(timeout)
                break
            except subprocess.TimeoutExpired:
                continue
        self._reader.join(timeout)
        close_pipes(self.proc)
        return "".join(self.output)


def run_python(namespace: str, code: str, env: dict[str, str], *args: str,
               timeout: float = 60.0) -> str:
    """Run ``code`` in a fresh Python inside ``namespace``; its stdout (stderr on error)."""
    proc = subprocess.run(["ip", "netns", "exec", namespace, sys.executable, "-c", code,
                           *args], env=env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"exit status {proc.returncode} in {namespace}\n--- code\n"
                             f"{code}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc.stdout
