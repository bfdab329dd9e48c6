"""The simulated records of epics_compat.server.records on their own (no client): the
calc evaluator, and scaler, sscan, mca and transform behaviour driven through PV puts on
a running server. tests/api/test_devices_sim.py drives them through pyepics' devices."""
from __future__ import annotations

import threading

import pytest

from pyserver import server_package

srv = server_package()
from epics_compat.server import records  # noqa: E402 -- after server_package()
from epics_compat.server.records._calc import CalcError, calc  # noqa: E402

pytestmark = pytest.mark.timeout(30)


def test_calc_evaluates_arithmetic_only():
    values = {"A": 3.0, "B": 4.0}
    assert calc("A*2+B^2", values) == 22.0
    assert calc("sqrt(a*a+b*b)", values) == 5.0
    assert calc("MAX(A,B)-MIN(A,B)", values) == 1.0
    assert (calc("A<B", values), calc("A>=B", values), calc("A=3", values)) == (1.0, 0.0, 1.0)
    assert calc("-A + C", values) == -3.0  # unset letters are 0
    for bad in ("__import__('os')", "A.real", "'text'", "open(A)", "A +", "Q"):
        with pytest.raises(CalcError):
            calc(bad, values)


def put(server, pv, value):
    """A client's put (with completion): returns an Event set when it completes."""
    done = threading.Event()
    server.run_in_loop(lambda: pv.put(pv.from_client([value], pv.native),
                                      lambda *status: done.set()))
    return done


@pytest.fixture
def server():
    items = [records.Scaler("r:sc", nchan=3, rates=(200.0, 300.0)),
             records.Sscan("r:scan", mpts=20), records.Mca("r:mca", nmax=100),
             records.Transform("r:tr"),
             srv.PV("r:pos", "double", 0.0), srv.PV("r:det", "double", 7.5)]
    with srv.Server(items, beacon_address=None) as running:
        yield running


def test_scaler_counts_for_its_preset_time(server):
    put(server, server["r:sc.TP"], 0.2).wait(2)
    put(server, server["r:sc_calc2.CALC"], "B/A*1e6").wait(2)
    put(server, server["r:sc_calc3.CALC"], "A +").wait(2)
    put(server, server["r:sc_calcEnable"], 1).wait(2)
    done = put(server, server["r:sc.CNT"], 1)
    assert server["r:sc.CNT"].value == 1 and not done.is_set()
    assert done.wait(2)
    values = [server[f"r:sc.{field}"].value for field in ("CNT", "T", "S1", "S2", "S3")]
    assert values == [0, 0.2, 2000000, 40, 60]
    assert server["r:sc_calc2.VAL"].value == 20.0
    assert server["r:sc_calc3"].severity == 3  # an invalid expression: INVALID


def test_sscan_ranges_and_a_scan(server):
    scan = "r:scan."
    for field, value in (("NPTS", 5), ("P1SP", 1.0), ("P1EP", 3.0)):
        put(server, server[scan + field], value).wait(2)
    assert (server[scan + "P1SI"].value, server[scan + "P1CP"].value,
            server[scan + "P1WD"].value) == (0.5, 2.0, 2.0)
    put(server, server[scan + "P1SI"], 0.25).wait(2)  # more points, same ends
    assert (server[scan + "NPTS"].value, server[scan + "P1EP"].value) == (9, 3.0)
    put(server, server[scan + "P1PV"], "r:nosuch").wait(2)
    assert server[scan + "P1NV"].value == 1
    assert put(server, server[scan + "EXSC"], 1).wait(2)
    assert server[scan + "SMSG"].value == "SCAN aborted: PV(s) not connected"
    put(server, server[scan + "P1PV"], "r:pos").wait(2)
    put(server, server[scan + "D01PV"], "r:det").wait(2)
    assert put(server, server[scan + "EXSC"], 1).wait(5)
    assert list(server[scan + "P1RA"].values) == [1.0 + 0.25 * n for n in range(9)]
    assert list(server[scan + "D01DA"].values) == [7.5] * 9
    assert (server[scan + "CPT"].value, server[scan + "EXSC"].value,
            server[scan + "SMSG"].value, server["r:pos"].value) == (9, 0, "SCAN Complete", 3.0)


def test_mca_acquires_and_sums_its_rois(server):
    mca = "r:mca."
    for field, value in (("PRTM", 0.2), ("R0LO", 25), ("R0HI", 35), ("R0BG", 2)):
        put(server, server[mca + field], value).wait(2)
    assert put(server, server[mca + "ERST"], 1).wait(3)
    rates = records.mca.default_rates(100)
    spectrum = list(server[mca + "VAL"].values)
    assert spectrum == [int(rate * 0.2) for rate in rates]
    assert server[mca + "R0"].value == sum(spectrum[25:36])
    background = (sum(spectrum[23:25]) + sum(spectrum[36:38])) / 4
    assert server[mca + "R0N"].value == pytest.approx(sum(spectrum[25:36]) - background * 11)
    with pytest.raises(ValueError):
        server.run_in_loop(lambda: server[mca + "R0"].put([1.0]))  # read-only


def test_transform_computes_rows_in_order(server):
    tr = "r:tr."
    put(server, server[tr + "CLCB"], "A*2").wait(2)
    put(server, server[tr + "CLCC"], "B+D").wait(2)
    put(server, server[tr + "INPD"], "r:det").wait(2)
    put(server, server[tr + "OUTC"], "r:pos").wait(2)
    put(server, server[tr + "CLCE"], "A +").wait(2)
    put(server, server[tr + "A"], 2.0).wait(2)
    values = [server[tr + row].value for row in "ABCD"]
    assert values == [2.0, 4.0, 11.5, 7.5] and server["r:pos"].value == 11.5
    assert (server[tr + "IDV"].value, server[tr + "OCV"].value, server[tr + "CEV"].value,
            server[tr + "LB"].value) == (0, 0, 1, 0.0)
