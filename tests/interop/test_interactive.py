"""epics_compat at the IPython prompt: import time, reprs, tab completion, Ctrl-C, and
the per-message debug log.

- ``import epics_compat`` costs no more than ``import epics`` (pyepics) and starts no
  thread and opens no socket until the first channel is made.
- reprs and ``dir()`` of PV and Device are pyepics' (IPython completes from them), and
  completing on a PV that never connects does not block.
- SIGINT while the main thread blocks in ``PV.get``, ``caget``, ``PV.put(wait=True)``,
  ``Motor.move(wait=True)`` or a connection wait raises KeyboardInterrupt at once, and
  the same process can then get values again (the context survived).
- ``EPICS_COMPAT_DEBUG=1``, or a DEBUG level on the ``caproto_core`` logger, shows
  every Channel Access message sent and received.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ioc import close_pipes

pytestmark = pytest.mark.timeout(90)

from paths import ROOT
SIM = f"int{os.getpid()}:"


def python_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else "")}
    env.update(extra or {})
    return env


# --- import -----------------------------------------------------------------------------

def import_time(module: str, env: dict[str, str], runs: int = 3) -> float:
    """Best of ``runs`` cumulative import times of ``module`` (seconds), bytecode cached."""
    best = float("inf")
    for _ in range(runs + 1):  # the first run writes the bytecode cache
        proc = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                              env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        line = [row for row in proc.stderr.splitlines() if row.endswith(f"| {module}")][-1]
        best = min(best, int(line.split("|")[1]) / 1e6)
    return best


def test_import_is_as_fast_as_pyepics(tmp_path):
    pytest.importorskip("epics")
    env = python_env({"PYTHONPYCACHEPREFIX": str(tmp_path)})
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    ours, theirs = import_time("epics_compat", env), import_time("epics", env)
    print(f"import epics_compat {ours * 1e3:.1f} ms, import epics (pyepics) "
          f"{theirs * 1e3:.1f} ms")
    # Both are mostly numpy's import; allow for noise on a busy machine.
    assert ours < 1.5 * theirs + 0.05


def test_import_starts_no_thread_and_no_socket():
    code = ("import os, sys, threading\nimport epics_compat\n"
            "fds = [os.readlink(f'/proc/self/fd/{fd}') for fd in os.listdir('/proc/self/fd')"
            " if os.path.exists(f'/proc/self/fd/{fd}')]\n"
            "print(threading.active_count(), sum('socket' in fd for fd in fds),"
            " sorted(m for m in ('asyncio', 'epics', 'caproto', 'epics_compat.server',"
            " 'ophyd') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], env=python_env(), text=True,
                         capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split(None, 2) == ["1", "0", "[]\n"]


# --- reprs and dir ----------------------------------------------------------------------

def test_reprs_are_pyepics(softioc):
    pyepics = pytest.importorskip("epics")
    import epics_compat
    seen = {}
    for lib in (pyepics, epics_compat):
        scalar, array = lib.PV(softioc.pv("oph:x")), lib.PV(softioc.pv("oph:wave"))
        enum = lib.PV(softioc.pv("oph:mode"))
        for pv in (scalar, array, enum):
            assert pv.wait_for_connection(5)
        lost = lib.PV(softioc.pv("oph:not_there"), connection_timeout=0.1)
        device = lib.Device(softioc.pv("oph:"), attrs=("x", "det"))
        alarm = lib.Alarm(softioc.pv("oph:det"), comparison=">", trip_point=100)
        seen[lib.__name__] = [repr(scalar), repr(array), repr(enum), repr(lost),
                              repr(device), repr(alarm)]
    assert seen["epics_compat"] == seen["epics"]
    assert seen["epics_compat"][:2] == [
        f"<PV '{softioc.pv('oph:x')}', count=1, type=time_double, access=read/write>",
        f"<PV '{softioc.pv('oph:wave')}', count=3/8, type=time_double, access=read/write>"]
    assert seen["epics_compat"][3] == f"<PV '{softioc.pv('oph:not_there')}': not connected>"


def public(obj) -> list[str]:
    return sorted(name for name in dir(obj) if not name.startswith("_"))


def test_dir_of_pv_and_device_is_pyepics(softioc):
    pyepics = pytest.importorskip("epics")
    import epics_compat
    ours, theirs = epics_compat.PV(softioc.pv("oph:x")), pyepics.PV(softioc.pv("oph:x"))
    assert ours.wait_for_connection(5) and theirs.wait_for_connection(5)
    assert public(ours) == public(theirs)
    assert {"get", "put", "value", "char_value", "units", "precision", "severity",
            "timestamp", "upper_ctrl_limit", "enum_strs", "add_callback"} <= set(public(ours))
    # Not connected: the same names, and dir() does not wait for anything.
    start = time.monotonic()
    assert public(epics_compat.PV(softioc.pv("oph:nope"))) == public(ours)
    assert time.monotonic() - start < 0.5

    dev_ours = epics_compat.Device(softioc.pv("oph:"), attrs=("x", "det"),
                                   aliases={"position": "x_RBV"})
    dev_theirs = pyepics.Device(softioc.pv("oph:"), attrs=("x", "det"),
                                aliases={"position": "x_RBV"})
    assert public(dev_ours) == public(dev_theirs)
    assert {"x", "det", "position", "get", "put", "save_state"} <= set(public(dev_ours))


IPYTHON_SCRIPT = r"""
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.completer import provisionalcompleter
shell = InteractiveShell.instance()
shell.run_cell(f'''
import epics_compat as epics
pv = epics.PV({sys.argv[1]!r})
pv.wait_for_connection(5)
lost = epics.PV({sys.argv[2]!r})
dev = epics.Device({sys.argv[3]!r}, attrs=("x", "det"))
''', store_history=False)
out = {}
for use_jedi in (True, False):
    shell.Completer.use_jedi = use_jedi
    for text in ("pv.get_", "pv.upper_c", "lost.get_w", "lost.val", "dev.d", "epics.ca.create_"):
        start = time.monotonic()
        with provisionalcompleter():
            found = sorted({c.text.rsplit(".", 1)[-1]
                            for c in shell.Completer.completions(text, len(text))})
        out[f"{use_jedi} {text}"] = [found, time.monotonic() - start < 1.0]
print(json.dumps(out))
"""


def test_ipython_completes_pv_device_and_ca(softioc):
    pytest.importorskip("IPython")
    proc = subprocess.run(
        [sys.executable, "-c", IPYTHON_SCRIPT, softioc.pv("oph:x"),
         softioc.pv("oph:never_there"), softioc.pv("oph:")],
        env=python_env(softioc.env), capture_output=True, text=True, timeout=60,
        cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    for jedi in ("True", "False"):
        assert out[f"{jedi} pv.get_"] == [["get_ctrlvars", "get_timevars",
                                           "get_with_metadata"], True]
        assert out[f"{jedi} pv.upper_c"] == [["upper_ctrl_limit"], True]
        assert out[f"{jedi} lost.get_w"] == [["get_with_metadata"], True]
        assert out[f"{jedi} lost.val"] == [["value"], True]  # not evaluated: no wait
        assert out[f"{jedi} dev.d"] == [["det"], True]
        assert out[f"{jedi} epics.ca.create_"] == [
            ["create_channel", "create_context", "create_subscription"], True]


# --- Ctrl-C -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server():
    srv = pytest.importorskip("epics_compat.server")
    pvs = [srv.PV(SIM + "hang", "double", 1.5), srv.PV(SIM + "ok", "double", 2.0),
           srv.PV(SIM + "slow", "double", 0.0, put_delay=60.0),
           srv.Motor(SIM + "m", velocity=0.5)]
    with srv.Server(pvs, beacon_address=None) as running:
        yield running


#: Blocks in one call (argv[2]) when told to on stdin, reports the KeyboardInterrupt,
#: then (told again) shows that the same context still answers.
SIGINT_SCRIPT = r"""
import signal, sys, time
# As at a prompt: a test runner started in the background (by a non-interactive shell)
# ignores SIGINT, and its children would inherit that.
signal.signal(signal.SIGINT, signal.default_int_handler)
import epics_compat as epics
P, what = sys.argv[1], sys.argv[2]
hang, ok, slow = epics.PV(P + "hang"), epics.PV(P + "ok"), epics.PV(P + "slow")
for pv in (hang, ok, slow):
    assert pv.wait_for_connection(5), pv.pvname
motor = epics.Motor(P + "m")
calls = {
    "PV.get": lambda: hang.get(timeout=60, use_monitor=False),
    "caget": lambda: epics.caget(P + "hang", use_monitor=False, timeout=60),
    "PV.put(wait=True)": lambda: slow.put(1.0, wait=True, timeout=60),
    "Motor.move(wait=True)": lambda: motor.move(20.0, wait=True),
    "PV.wait_for_connection": lambda: epics.PV(P + "absent").wait_for_connection(60),
}
print("ready", flush=True)
sys.stdin.readline()
start = time.monotonic()
try:
    result = calls[what]()
    print("returned", result, flush=True)
except KeyboardInterrupt:
    print("KeyboardInterrupt after %.3f s" % (time.monotonic() - start), flush=True)
sys.stdin.readline()
print("ok", ok.get(use_monitor=False, timeout=5), hang.get(use_monitor=False, timeout=5),
      epics.caget(P + "ok", timeout=5), ok.put(2.0, wait=True, timeout=5), flush=True)
if what.startswith("Motor"):
    motor.stop()
    print("stopped", motor.get_position(readback=True) < 20.0, flush=True)
"""


@pytest.mark.parametrize("what", ["PV.get", "caget", "PV.put(wait=True)",
                                  "Motor.move(wait=True)", "PV.wait_for_connection"])
def test_ctrl_c_in_a_blocking_call(server, what):
    proc = subprocess.Popen([sys.executable, "-c", SIGINT_SCRIPT, SIM, what],
                            env=python_env(server.client_env), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    hung = False
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        if what in ("PV.get", "caget"):
            server.faults.hang(True)  # the read is sent but never answered
            hung = True
        proc.stdin.write("go\n")
        proc.stdin.flush()
        time.sleep(0.5)  # well inside the blocking call
        assert proc.poll() is None
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        line = proc.stdout.readline().strip()
        took = time.monotonic() - sent
        assert line.startswith("KeyboardInterrupt after "), (line, proc.stderr.read())
        assert took < 1.0
        if hung:
            server.faults.hang(False)  # the late answer to the interrupted read arrives
            hung = False
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=30)
    finally:
        if hung:
            server.faults.hang(False)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        close_pipes(proc)
    assert proc.returncode == 0, err
    assert out.splitlines()[0] == "ok 2.0 1.5 2.0 1"
    if what.startswith("Motor"):
        assert out.splitlines()[1] == "stopped True"
    assert "Traceback" not in err, err


# --- the message log --------------------------------------------------------------------

LOG_SCRIPT = r"""
import sys, threading
{setup}
import epics_compat as epics
print(epics.caget(sys.argv[1], use_monitor=False).tolist())  # a read, always
print(epics.caput(sys.argv[2], 2.0, wait=True))
updated = threading.Event()
pv = epics.PV(sys.argv[1], callback=lambda **kw: updated.set())  # a subscription
print(updated.wait(5))
"""
LOGGER_SETUP = ("import logging\nlogging.basicConfig(stream=sys.stderr)\n"
                "logging.getLogger('caproto_core').setLevel(logging.DEBUG)")
#: What a caget and a caput(wait=True) exchange, each message named in the log.
MESSAGES = ("udp >> SearchRequest(", "<< SearchResponse(", ">> VersionRequest(",
            ">> HostNameRequest(", ">> ClientNameRequest(", ">> CreateChanRequest(",
            "<< AccessRightsResponse(", "<< CreateChanResponse(", ">> EventAddRequest(",
            "<< EventAddResponse(", ">> ReadNotifyRequest(", "<< ReadNotifyResponse(",
            ">> WriteNotifyRequest(", "<< WriteNotifyResponse(")


def run_logged(softioc, setup: str = "", **env) -> subprocess.CompletedProcess:
    name = softioc.pv("oph:count")
    proc = subprocess.run(
        [sys.executable, "-c", LOG_SCRIPT.format(setup=setup), softioc.pv("oph:wave"), name],
        env=python_env({**softioc.env, **env}), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["[0.5, 1.5, 2.5]", "1", "True"]
    return proc


@pytest.mark.parametrize("switch", ["EPICS_COMPAT_DEBUG", "logger level"])
def test_every_message_is_logged(softioc, switch):
    try:
        if switch == "EPICS_COMPAT_DEBUG":
            log = run_logged(softioc, EPICS_COMPAT_DEBUG="1").stderr
        else:
            log = run_logged(softioc, LOGGER_SETUP).stderr
    finally:
        import epics_compat
        epics_compat.caput(softioc.pv("oph:count"), 7, wait=True)
    lines = log.splitlines()
    for text in MESSAGES:
        assert any(text in line for line in lines), f"{text} not in the log:\n{log}"
    peer = f"127.0.0.1:{softioc.port}"
    assert any(line.endswith(f"{peer} >> CreateChanRequest(name="
                             f"'{softioc.pv('oph:wave')}', cid=1, version=13)")
               for line in lines), log
    assert any(f"{peer} << WriteNotifyResponse(" in line and "status=1" in line
               for line in lines), log
    assert any(f"{peer} << ReadNotifyResponse(" in line and "data=array([0.5, 1.5, 2.5])" in line
               for line in lines), log
    if switch == "EPICS_COMPAT_DEBUG":
        assert all(" DEBUG: " in line for line in lines if "caproto_core" in line)


@pytest.mark.parametrize("value", ["", "0", "no"])
def test_no_log_unless_asked(softioc, value):
    try:
        assert run_logged(softioc, EPICS_COMPAT_DEBUG=value).stderr == ""
    finally:
        import epics_compat
        epics_compat.caput(softioc.pv("oph:count"), 7, wait=True)


def test_debug_switch_adds_one_handler():
    import logging

    from epics_compat import _debug
    loggers = [logging.getLogger(name) for name in _debug.LOGGERS]
    saved = [(log.level, list(log.handlers)) for log in loggers]
    try:
        handler = _debug.enable()
        assert _debug.enable() is handler
        for log in loggers:
            assert log.level == logging.DEBUG and log.handlers.count(handler) == 1
        assert _debug.wanted({"EPICS_COMPAT_DEBUG": "1"})
        assert _debug.wanted({"EPICS_COMPAT_DEBUG": "yes"})
        assert not _debug.wanted({"EPICS_COMPAT_DEBUG": "0"})
        assert not _debug.wanted({})
    finally:
        for log, (level, handlers) in zip(loggers, saved):
            log.setLevel(level)
            log.handlers[:] = handlers
