"""Processes: fork while busy, CAProcess/CAPool under load, interpreter exit while live.

The client runs in a process of its own (the scenario scripts below), aimed at a test
server that runs in the test process, so that forks and exits do not touch the test
process's own context. Each child and each process is waited for with a timeout: a hang
fails the test instead of stopping the run.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from epics_compat.server import PV
from reliability import Lab

pytestmark = pytest.mark.timeout(90)

from paths import TESTS

TESTS_DIR = str(TESTS)


@pytest.fixture
def lab(tmp_path):
    lab = Lab()
    lab.tmp_path = tmp_path
    yield lab
    lab.close()


def start(code: str, lab: Lab, server, *args: str) -> subprocess.Popen:
    """Run ``code`` as a script file (spawned multiprocessing children import it)."""
    env = {**os.environ, **server.client_env,
           "EPICS_CA_REPEATER_PORT": str(lab.repeater.port), "PYTHONPATH": TESTS_DIR +
           os.pathsep + os.environ.get("PYTHONPATH", "")}
    script = lab.tmp_path / f"scenario{len(os.listdir(lab.tmp_path))}.py"
    script.write_text(code)
    return subprocess.Popen([sys.executable, str(script), *args], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"the process hung; stdout:\n{out}\nstderr:\n{err}") from None
    return proc.returncode, out, err


# --- fork while busy -----------------------------------------------------------------------

FORK_UNDER_LOAD = r"""
import json, os, signal, sys, threading, time
import epics_compat as epics
from epics_compat import ca

stop = threading.Event()
errors = []
updates = []
counter = epics.PV("counter", callback=lambda value=None, **kw: updates.append(value))
parent_pv = epics.PV("x")
assert counter.wait_for_connection(5) and parent_pv.wait_for_connection(5)

def busy(k):
    chid = ca.create_channel(f"x{k}", connect=True)
    n = 0
    while not stop.is_set():
        n += 1
        try:
            if ca.put(chid, n, wait=True, timeout=5) != 1 or ca.get(chid, timeout=5) != n:
                errors.append(f"busy {k}: lost {n}")
            epics.caget("big", timeout=5)  # large replies in flight now and then
        except Exception as exc:
            errors.append(repr(exc))

threads = [threading.Thread(target=busy, args=(k,)) for k in range(6)]
for thread in threads:
    thread.start()
time.sleep(0.3)

CHILD = '''
def child(index):
    # A fresh context that works, whatever the parent's threads held at the fork.
    value = epics.caget("x", timeout=5)
    fresh = epics.PV("x")
    got = fresh.get(timeout=5)
    seen = []
    monitor = epics.PV("counter", callback=lambda value=None, **kw: seen.append(value))
    deadline = time.monotonic() + 5
    while len(seen) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    # The parent's PV object is unusable here: it must say so (or give None) at once.
    started = time.monotonic()
    try:
        stale = parent_pv.get(timeout=1)
    except Exception as exc:
        stale = type(exc).__name__
    stale_time = time.monotonic() - started
    ok = value == 1.5 and got == 1.5 and len(seen) >= 3 and stale_time < 2 \
        and ca._context_object().pid == os.getpid()
    print(json.dumps(dict(index=index, ok=ok, value=value, got=got, seen=len(seen),
                          stale=repr(stale), stale_time=stale_time)), flush=True)
'''
exec(CHILD)
children = {}
for index in range(int(sys.argv[1])):
    pid = os.fork()
    if pid == 0:
        try:
            child(index)
        except BaseException as exc:
            print(json.dumps(dict(index=index, ok=False, error=repr(exc))), flush=True)
            os._exit(3)
        sys.exit(0) if index % 2 else os._exit(0)  # both ways out must be clean
    children[pid] = index
    time.sleep(0.05)
statuses = {}
deadline = time.monotonic() + 60
while children and time.monotonic() < deadline:
    for pid in list(children):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            statuses[children.pop(pid)] = os.waitstatus_to_exitcode(status)
    time.sleep(0.02)
for pid in children:  # hung children
    os.kill(pid, signal.SIGKILL)
    statuses[children[pid]] = "hung"
before = len(updates)
time.sleep(0.5)
stop.set()
for thread in threads:
    thread.join(10)
print(json.dumps(dict(parent=True, statuses=statuses, errors=errors[:10],
                      updates_flowing=len(updates) > before,
                      in_order=all(b > a for a, b in zip(updates, updates[1:])),
                      parent_value=parent_pv.get(timeout=5))), flush=True)
"""


def post_counter(server, stop_after: float):
    """Post a counter on the server's 'counter' PV every 5 ms for ``stop_after`` s."""
    import threading

    def run():
        deadline = time.monotonic() + stop_after
        i = 0
        while time.monotonic() < deadline:
            i += 1
            server["counter"].write(i)
            time.sleep(0.005)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_fork_while_threads_are_busy(lab):
    """Six threads put, get and read a large array without pause while a monitor runs;
    the parent forks 8 times meanwhile. Every child gets a working fresh context (caget,
    a PV, a monitor), finds its parent's PV object unusable at once, and exits cleanly by
    sys.exit or os._exit; none hangs on a lock some parent thread held at the fork. The
    parent's threads and monitor go on unaffected."""
    import numpy as np
    server = lab.server([PV("x", "double", 1.5), PV("counter", "long", 0),
                         PV("big", "double", np.zeros(200_000))] +
                        [PV(f"x{k}", "long", 0) for k in range(6)])
    poster = post_counter(server, 30)
    proc = start(FORK_UNDER_LOAD, lab, server, "8")
    code, out, err = finish(proc, 80)
    poster.join(0)
    results = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    children = [r for r in results if "index" in r]
    parent = [r for r in results if r.get("parent")]
    assert code == 0 and parent, (code, out, err)
    parent = parent[0]
    assert sorted(r["index"] for r in children) == list(range(8)), out
    assert all(r["ok"] for r in children), children
    assert parent["statuses"] == {str(i): 0 for i in range(8)}, parent
    assert parent["errors"] == [], parent["errors"]
    assert parent["updates_flowing"] and parent["in_order"] and parent["parent_value"] == 1.5
    assert "Traceback" not in err, err


# --- CAProcess and CAPool under load -------------------------------------------------------------

POOL = r"""
import json, sys, time
import multiprocessing as mp
import epics_compat as epics
from epics_compat import CAPool, CAProcess, ca

def task(i):
    # 10 ms each: 2 s of work for one worker, so that the others, which take a while to
    # start with spawn, get their share (one fast worker once did all 200 tasks).
    time.sleep(0.01)
    k = i % 8
    name = f"w{k}"
    if epics.caput(name, i, wait=True, timeout=5) != 1:
        return ("put failed", i)
    value = epics.caget(name, timeout=5)
    pv = epics.get_pv("x", connect=True)
    return (i, value, pv.get(timeout=5), ca._context_object().pid)

def watcher(queue):
    seen = []
    pv = epics.PV("counter", callback=lambda value=None, **kw: seen.append(value))
    time.sleep(1.0)
    disordered = [(a, b) for a, b in zip(seen, seen[1:]) if b <= a]
    queue.put((len(seen), not disordered, disordered[:5]))  # the pairs say what went wrong

if __name__ == "__main__":
    method = sys.argv[1]
    mp.set_start_method(method)
    updates = []
    monitor = epics.PV("counter", callback=lambda value=None, **kw: updates.append(value))
    assert monitor.wait_for_connection(5)
    with CAPool(4) as pool:
        results = pool.map(task, range(200), chunksize=5)
    queue = mp.Queue()
    process = CAProcess(target=watcher, args=(queue,))
    process.start()
    watched = queue.get(timeout=30)
    process.join(30)
    bad = [r for r in results if r[0] == "put failed" or r[2] != 1.5]
    # A task's own put may be overtaken by another worker's put to the same PV; its
    # value must still be one that some task wrote.
    foreign = [r for r in results if r[1] % 8 != r[0] % 8]
    print(json.dumps(dict(n=len(results), bad=bad[:5], foreign=foreign[:5],
                          workers=len({r[3] for r in results}), watched=watched,
                          exitcode=process.exitcode, parent_updates=len(updates),
                          parent_in_order=all(b > a for a, b in zip(updates, updates[1:])),
                          parent_value=epics.caget("x"))))
"""


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_capool_and_caprocess_under_load(lab, method):
    """200 put/get tasks over a CAPool of 4 workers and a CAProcess that monitors, while
    the parent monitors too: every result is right, every process ends."""
    server = lab.server([PV("x", "double", 1.5), PV("counter", "long", 0)] +
                        [PV(f"w{k}", "long", 0) for k in range(8)])
    poster = post_counter(server, 40)
    code, out, err = finish(start(POOL, lab, server, method), 80)
    poster.join(0)
    assert code == 0, (out, err)
    result = json.loads(out.splitlines()[-1])
    assert result["n"] == 200 and result["bad"] == [] and result["foreign"] == [], result
    assert result["workers"] >= 2, result
    assert result["watched"][0] >= 20 and result["watched"][1], result
    assert result["exitcode"] == 0
    assert result["parent_updates"] >= 20 and result["parent_in_order"], result
    assert result["parent_value"] == 1.5
    assert "Traceback" not in err, err


# --- interpreter exit with live subscriptions ---------------------------------------------------

EXIT_LIVE = r"""
import sys, threading, time
import epics_compat as epics
from epics_compat import ca
case = sys.argv[1]
pvs = [epics.PV(f"p{i}", callback=lambda **kw: None) for i in range(200)]
assert all(pv.wait_for_connection(5) for pv in pvs)
counter = epics.PV("counter", callback=lambda **kw: None)
chid = ca.create_channel("counter", connect=True)
ca.create_subscription(chid, callback=lambda **kw: None)
epics.camonitor("p0", callback=lambda **kw: None)
if case == "blocked-callback":
    # A user callback that never returns when the exit comes.
    entered = threading.Event()
    def stuck(**kw):
        entered.set()
        time.sleep(3600)
    epics.PV("p1", callback=stuck)
    entered.wait(5)
if case == "put-in-flight":
    epics.PV("slow").put(2.0, wait=False, callback=lambda **kw: None)
if case == "hung-server":
    print("hang?", flush=True)
    sys.stdin.readline()  # the test hangs the server now
    time.sleep(0.2)
if case == "callback-exits":
    # sys.exit() from inside a callback: only that callback ends (as in pyepics).
    done = threading.Event()
    epics.PV("p2", callback=lambda **kw: (done.set(), sys.exit(3)))
    done.wait(5)
if case == "destroyed-first":
    ca.finalize_libca()
if case == "thread-still-getting":
    # A daemon thread still reading when the exit comes: a clear ChannelAccessException
    # once the library is finalized, or None; no other error, no hang, no crash (pyepics
    # dies of SIGSEGV here).
    def forever():
        while True:
            try:
                epics.caget("p3", timeout=1)
                epics.PV("p4").get(timeout=1)
            except ca.ChannelAccessException:
                pass
            except BaseException as exc:
                print("unexpected", repr(exc), file=sys.stderr, flush=True)
                raise
    threading.Thread(target=forever, daemon=True).start()
    time.sleep(0.2)
print("exiting", time.monotonic(), flush=True)
"""

EXIT_CASES = ["plain", "blocked-callback", "put-in-flight", "hung-server", "callback-exits",
              "destroyed-first", "thread-still-getting"]


@pytest.mark.parametrize("case", EXIT_CASES)
def test_interpreter_exit_with_live_subscriptions(lab, case):
    """200 auto-monitored PVs, a ca subscription, a camonitor and a counter updating every
    5 ms when the interpreter exits: it exits with status 0, within a few seconds (even
    with a callback that never returns, a put in flight or a hung server), and prints no
    traceback or 'Exception ignored'."""
    server = lab.server([PV(f"p{i}", "double", float(i)) for i in range(200)] +
                        [PV("counter", "long", 0), PV("slow", "double", 0.0, put_delay=30)])
    poster = post_counter(server, 30)
    proc = start(EXIT_LIVE, lab, server, case)
    if case == "hung-server":
        assert proc.stdout.readline().strip() == "hang?"
        server.faults.hang(True)
        proc.stdin.write("go\n")
        proc.stdin.flush()
    code, out, err = finish(proc, 30)
    exit_time = time.monotonic() - float(out.split("exiting", 1)[1].split()[0]) \
        if "exiting" in out else None
    server.faults.clear()
    poster.join(0)
    assert code == 0, (code, out, err)
    assert exit_time is not None and exit_time < 5.0, (exit_time, out)
    assert "Traceback" not in err and "Exception ignored" not in err, err
    if case != "callback-exits":
        assert err == "", err
