"""epics_compat.aioca on its own: several event loops in several threads, shutdown and
reuse, the module aliases, and ``python -m`` (the differential tests compare the rest
with aioca)."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import threading

import numpy as np
import pytest

from epics_compat import aioca
from epics_compat.aioca import _client

pytestmark = pytest.mark.timeout(60)


def test_each_thread_runs_a_loop_with_a_client_of_its_own(softioc):
    """aioca allows a loop per thread: gets, puts and monitors in four at once."""
    name = softioc.pv("long")
    results, errors = {}, []

    async def work(index: int) -> None:
        seen = []
        subscription = aioca.camonitor(name, seen.append, all_updates=True)
        values = await aioca.caget([softioc.pv("ai"), softioc.pv("wdouble:init")])
        await aioca.caput(softioc.pv("ao"), float(index), wait=True)
        await asyncio.sleep(0.3)
        subscription.close()
        results[index] = (float(values[0]), values[1].tolist()[:2], len(seen),
                          _client.client())

    def thread(index: int) -> None:
        try:
            asyncio.run(work(index))
        except Exception as exc:  # reported below, with the thread's index
            errors.append((index, exc))

    threads = [threading.Thread(target=thread, args=(i,)) for i in range(4)]
    for each in threads:
        each.start()
    for each in threads:
        each.join(30)
    assert not errors
    assert sorted(results) == [0, 1, 2, 3]
    assert all(value[:2] == (3.25, [0.5, -1.25]) and value[2] >= 1 for value in
               results.values()), results
    assert len({id(value[3]) for value in results.values()}) == 4  # one client per loop


def test_purge_closes_everything_and_the_next_call_starts_again(softioc):
    async def first():
        subscription = aioca.camonitor(softioc.pv("ai"), lambda value: None)
        await aioca.connect(softioc.pv("ai"))
        await asyncio.sleep(0.1)
        infos = aioca.get_channel_infos()
        aioca.purge_channel_caches()
        return infos, subscription

    infos, subscription = asyncio.run(first())
    assert [(i.name, i.connected, i.subscriber_count) for i in infos] == \
        [(softioc.pv("ai"), True, 1)]
    assert subscription.state == aioca.Subscription.CLOSED

    async def again():
        return await aioca.caget(softioc.pv("ai"), format=aioca.FORMAT_TIME)

    value = asyncio.run(again())
    assert value == 3.25 and value.ok and value.severity == 0


def test_run_is_deprecated_and_runs_the_coroutine(softioc):
    with pytest.warns(DeprecationWarning):
        value = aioca.run(aioca.caget(softioc.pv("wdouble:init"), count=3))
    assert isinstance(value, np.ndarray) and value.tolist() == [0.5, -1.25, 1e10]


def test_a_bad_pv_name_and_a_bad_datatype_say_what_is_wrong(softioc):
    async def main():
        with pytest.raises(TypeError, match="PV name must be a str"):
            await aioca.caget(42)
        with pytest.raises(Exception, match="complex"):
            await aioca.caget(softioc.pv("ai"), datatype=complex)

    asyncio.run(main())


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)


def test_install_as_aioca_aliases_aioca_and_epicscorelibs_constants():
    proc = run_python(
        "import epics_compat, sys\n"
        "epics_compat.install_as_aioca()\n"
        "import aioca, aioca.types\n"
        "from epicscorelibs.ca import dbr, cadef\n"
        "print(aioca.__name__, aioca.types.__name__, dbr.__name__, cadef.__name__)\n"
        "print(dbr.DBR_CHAR_STR, cadef.DBE_PROPERTY, aioca.__version__)\n"
        "print(any('libca' in line for line in open('/proc/self/maps')))\n")
    assert proc.returncode == 0, proc.stderr
    names, constants, libca = proc.stdout.splitlines()
    assert names.split() == ["epics_compat.aioca", "epics_compat.aioca.types",
                             "epics_compat.aioca.dbr", "epics_compat.aioca.cadef"]
    assert constants.split()[:2] == ["999", "8"]
    assert constants.split()[2].startswith("2.1+epicscompat.")
    assert libca == "False"


def test_install_after_the_real_aioca_is_refused_with_its_name():
    proc = run_python("import aioca, epics_compat\nepics_compat.install_as_aioca()\n")
    assert proc.returncode != 0
    assert "AiocaImportConflict" in proc.stderr and "'aioca'" in proc.stderr


def test_python_dash_m_version():
    proc = subprocess.run([sys.executable, "-m", "epics_compat.aioca", "--version"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and proc.stdout.startswith("2.1+epicscompat.")
