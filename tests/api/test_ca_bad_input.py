"""Bad input to epics_compat.ca: what pyepics does, or a clear error where pyepics crashes
or misbehaves; never a hang, never a broken context.

Where the two differ on purpose, each test asserts both behaviours and says why ours is
kept. After every test a normal get must still work (fixture ``context_still_works``).
"""
from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

from ca_compare import LIBS, connected, eca, outcome, pca
from ioc import run_python

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(autouse=True)
def context_still_works(softioc):
    yield
    chid = connected(eca, softioc.pv("ai"))
    assert eca.get(chid, timeout=5) == 3.25
    context = eca._context_object()
    assert context.running and context.loop.thread.is_alive()
    assert context.dispatcher._thread.is_alive()


@pytest.fixture
def restore(softioc):
    """Restore the given records (via pyepics) after the test."""
    saved = {}

    def remember(*records):
        for record in records:
            name = softioc.pv(record)
            saved[name] = pca.get(connected(pca, name))
    yield remember
    for name, value in saved.items():
        if value is not None:
            pca.put(pca.create_channel(name), value, wait=True)


def put_both(softioc, record, value, **kwargs):
    """put() through both libraries; (outcome, value read back) for each."""
    results = {}
    name = softioc.pv(record)
    for lib, ca in LIBS.items():
        chid = connected(ca, name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = outcome(ca.put, chid, value, wait=True, timeout=5, **kwargs)
        results[lib] = (result, ca.get(chid))
    return results["pyepics"], results["epics_compat"]


def assert_clear_put_error(result, name, kind):
    """Our put error: a ChannelAccessException that is also ``kind`` and names the PV."""
    assert result[0] == "raised", result
    assert isinstance(result[1], eca.ChannelAccessException), result
    assert isinstance(result[1], kind), result
    assert name in str(result[1]), result


# --- values of the wrong type or size -------------------------------------------------------

@pytest.mark.parametrize("record, value, kind", [
    ("ao", "not a number", ValueError),
    ("ao", "0x10", ValueError),  # hex is for integer fields, as in pyepics
    ("long", "3.5", ValueError),
    ("ao", {"value": 1}, TypeError),
    ("ao", {}, TypeError),
    ("ao", None, TypeError),
    ("long", None, TypeError),
    ("ao", object(), TypeError),
    ("ao", [1.0, 2.0], TypeError),  # several values for one
    ("long", float("nan"), ValueError),
    ("long", float("inf"), OverflowError),
    ("mbbo", float("-inf"), OverflowError),
    ("str", "x" * 41, ValueError),
    ("wstring", ["ok", "y" * 50], ValueError),
])
def test_wrong_values_raise_what_pyepics_raises(softioc, record, value, kind):
    """pyepics lets ctypes raise a bare TypeError/ValueError/OverflowError; ours is of
    the same class (so the same except clauses catch it), is also a
    ChannelAccessException, and names the PV. Nothing is written in either case."""
    theirs, ours = put_both(softioc, record, value)
    assert theirs[0][0] == "raised" and isinstance(theirs[0][1], kind), theirs
    assert_clear_put_error(ours[0], softioc.pv(record), kind)
    assert theirs[1] == ours[1] or (theirs[1] != theirs[1] and ours[1] != ours[1])


def test_string_of_exactly_40_bytes(softioc, restore):
    """40 bytes fill a DBR_STRING with no room for the NUL: libca refuses it with
    CASeverityException('Invalid string'); ours refuses it before sending, with a
    ValueError that says how long a string may be and names the PV."""
    restore("str")
    for text in ("x" * 40, "é" * 20):
        theirs, ours = put_both(softioc, "str", text)
        assert theirs[0][0] == "raised" and type(theirs[0][1]).__name__ == \
            "CASeverityException" and theirs[0][1].msg == "Invalid string"
        assert_clear_put_error(ours[0], softioc.pv("str"), ValueError)
        assert "39 bytes" in str(ours[0][1])
    theirs, ours = put_both(softioc, "str", "x" * 39)  # the longest that fits
    assert theirs == ours == (("ok", 1), "x" * 39)


def test_array_longer_than_nelm_is_truncated(softioc):
    theirs, ours = put_both(softioc, "wdouble", np.arange(300.0))
    assert theirs[0] == ours[0] == ("ok", 1)
    assert np.array_equal(theirs[1], np.arange(128.0))
    assert np.array_equal(ours[1], np.arange(128.0))
    theirs, ours = put_both(softioc, "wchar", "z" * 500)
    assert theirs[0] == ours[0] == ("ok", 1)
    assert len(ours[1]) == 128 and bytes(ours[1]) == b"z" * 128
    assert np.array_equal(theirs[1], ours[1])
    theirs, ours = put_both(softioc, "wstring", [str(i) for i in range(200)])
    assert theirs[0] == ours[0] == ("ok", 1)
    assert theirs[1] == ours[1] == [str(i) for i in range(128)]


@pytest.mark.parametrize("record, value, readback", [
    ("long", 2 ** 40, None),
    ("bo", -1, None),
    ("wshort", [1, 70000, -3], None),
    ("wuchar", [255, 256, -1], None),
])
def test_out_of_range_integers(softioc, restore, record, value, readback):
    """Deliberate difference: pyepics writes what ctypes makes of the number (2**40 -> 0,
    -1 -> 65535 for an enum, 70000 -> 4464 in a short) without a word; ours refuses with a
    ValueError naming the PV and writes nothing."""
    restore("long", "bo")
    before = eca.get(connected(eca, softioc.pv(record)))
    theirs, ours = put_both(softioc, record, value)
    assert theirs[0] == ("ok", 1)
    assert_clear_put_error(ours[0], softioc.pv(record), ValueError)
    # pyepics' put changed the record; ours left it as pyepics had made it.
    assert not np.array_equal(np.asarray(theirs[1]), np.asarray(before)) or \
        np.array_equal(np.asarray(value) % 2 ** 8, np.asarray(before))
    assert np.array_equal(np.asarray(ours[1]), np.asarray(theirs[1]))


def test_empty_array(softioc):
    """Deliberate difference: pyepics writes NELM zeros for an empty list (count 0 means
    'all' to it); ours refuses with a ChannelAccessException naming the PV."""
    eca.put(connected(eca, softioc.pv("wdouble")), [1.0, 2.0], wait=True)
    theirs, ours = put_both(softioc, "wdouble", [])
    assert theirs[0] == ("ok", 1) and np.array_equal(theirs[1], np.zeros(128))
    assert ours[0][0] == "raised" and isinstance(ours[0][1], eca.ChannelAccessException)
    assert softioc.pv("wdouble") in str(ours[0][1])


def test_empty_string_to_char_waveform(softioc):
    """Both read back as ''. pyepics writes NELM NULs (count 0 means 'all'), ours one."""
    theirs, ours = put_both(softioc, "wchar", "")
    assert theirs[0] == ours[0] == ("ok", 1)
    assert len(theirs[1]) == 128 and not theirs[1].any()
    assert len(ours[1]) == 1 and ours[1][0] == 0
    for ca in LIBS.values():
        assert ca.get(connected(ca, softioc.pv("wchar")), as_string=True) == ""


@pytest.mark.parametrize("record, value, ours_reads", [
    # pyepics' ca.put does int(value, 0) on the name: ValueError. (pyepics' PV.put maps
    # enum names to indices; doing it here too means ca.put and PV.put agree.)
    ("mbbo", "Three", 3),
    ("bo", "On", 1),
    # pyepics calls len() on the number: TypeError.
    ("str", 12, "12"),
    ("str", 1.5, "1.5"),
    # pyepics warns that a waveform needs a sequence, then raises TypeError.
    ("wdouble", 5.0, 5.0),
    ("wchar", 65, np.array([65], dtype=np.uint8)),
    # pyepics writes the character codes of the text: [49., 46., 53.].
    ("wdouble", "1.5", 1.5),
    # pyepics: TypeError (ctypes wants numbers).
    ("wdouble", ["1", "2.5"], np.array([1.0, 2.5])),
    ("wlong", [1.9, -1.9], np.array([1, -1], dtype=np.int32)),
    # pyepics: TypeError; ours flattens in C order, as numpy's ravel.
    ("wdouble", np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, 2.0, 3.0, 4.0])),
    # pyepics: TypeError (numpy 2 refuses float() of a 1-d array); ours puts the element.
    ("ao", np.array([7.0]), 7.0),
    ("ao", [6.5], 6.5),
    # pyepics writes the UTF-8 bytes decoded as ASCII with U+FFFD, cut to bytes: 253, 253.
    ("wchar", "é", np.array([195, 169, 0], dtype=np.uint8)),
])
def test_values_pyepics_refuses_or_mangles(softioc, restore, record, value, ours_reads):
    """Deliberate differences: pyepics raises (or writes garbage) for these values, which
    have one obvious meaning; epics_compat writes that meaning."""
    restore("mbbo", "bo", "str", "ao")
    theirs, ours = put_both(softioc, record, value)
    if theirs[0][0] == "raised":
        assert isinstance(theirs[0][1], (TypeError, ValueError)), theirs
    else:
        assert not np.array_equal(np.asarray(theirs[1]), np.asarray(ours_reads))
    assert ours[0] == ("ok", 1), ours
    if isinstance(ours_reads, np.ndarray):
        assert ours[1].dtype == ours_reads.dtype and np.array_equal(ours[1], ours_reads)
    else:
        assert type(ours[1]) is type(ours_reads) and ours[1] == ours_reads


def test_enum_name_that_does_not_exist(softioc):
    theirs, ours = put_both(softioc, "mbbo", "Four")
    assert theirs[0][0] == "raised" and isinstance(theirs[0][1], ValueError)
    assert_clear_put_error(ours[0], softioc.pv("mbbo"), ValueError)
    assert "enum" in str(ours[0][1])


# --- channel ids ----------------------------------------------------------------------------

FUNCTIONS_OF_A_CHID = {
    "get": lambda ca, c: ca.get(c),
    "put": lambda ca, c: ca.put(c, 1.0),
    "name": lambda ca, c: ca.name(c),
    "state": lambda ca, c: ca.state(c),
    "field_type": lambda ca, c: ca.field_type(c),
    "element_count": lambda ca, c: ca.element_count(c),
    "host_name": lambda ca, c: ca.host_name(c),
    "read_access": lambda ca, c: ca.read_access(c),
    "connect_channel": lambda ca, c: ca.connect_channel(c, timeout=0.1),
    "clear_channel": lambda ca, c: ca.clear_channel(c),
    "create_subscription": lambda ca, c: ca.create_subscription(c),
    "get_ctrlvars": lambda ca, c: ca.get_ctrlvars(c),
    "get_with_metadata": lambda ca, c: ca.get_with_metadata(c),
    "promote_type": lambda ca, c: ca.promote_type(c, use_time=True),
}


@pytest.mark.parametrize("chid", [123456789, 0, -1, None, "ao", 1.5, b"x"],
                         ids=["unknown-int", "zero", "minus-one", "None", "str", "float",
                              "bytes"])
@pytest.mark.parametrize("function", list(FUNCTIONS_OF_A_CHID))
def test_invalid_chids_raise_channel_access_exception(function, chid):
    call = FUNCTIONS_OF_A_CHID[function]
    theirs = outcome(call, pca, chid)
    ours = outcome(call, eca, chid)
    assert ours[0] == "raised" and isinstance(ours[1], eca.ChannelAccessException), ours
    assert theirs[0] == "raised" and type(theirs[1]).__name__ == "ChannelAccessException", \
        theirs


@pytest.mark.parametrize("event_id", [None, 12345, "x", (1, 2, 3)])
def test_clear_subscription_of_a_non_subscription(event_id):
    """pyepics hands these to ca_clear_subscription, which segfaults for None (checked by
    hand: the process dies with SIGSEGV); ours raises a ChannelAccessException."""
    with pytest.raises(eca.ChannelAccessException, match="not a subscription"):
        eca.clear_subscription(event_id)


def test_clear_subscription_twice(softioc):
    chid = connected(eca, softioc.pv("calc"))
    subscription = eca.create_subscription(chid, callback=lambda **kw: None)
    assert eca.clear_subscription(subscription[2]) == 1
    assert eca.clear_subscription(subscription[2]) == 1  # harmless


def test_cleared_channel_is_unknown_afterwards(softioc):
    chid = connected(eca, softioc.pv("bi.DESC"))
    assert eca.clear_channel(chid) == 1
    with pytest.raises(eca.ChannelAccessException, match="Unexpected channel ID"):
        eca.get(chid)
    # ...and the name can be used again.
    assert eca.get(connected(eca, softioc.pv("bi.DESC"))) == ""


# --- PV names -----------------------------------------------------------------------------

def pyepics_create_channel(softioc, name):
    """[exception class, msg] of pyepics' create_channel(name), in a subprocess: a failed
    create_channel leaves an entry without a chid in pyepics' cache, and its show_cache()
    raises from then on."""
    script = ("import epics.ca as ca\n"
              "try:\n"
              f"    ca.create_channel({name!r})\n"
              "    print('ok|')\n"
              "except Exception as exc:\n"
              "    print(type(exc).__name__ + '|' + str(getattr(exc, 'msg', '')))\n")
    return run_python(script, softioc.env).splitlines()[-1].split("|")


@pytest.mark.parametrize("name", ["", "y" * 1008, "y" * 5000])
def test_empty_and_overlong_names(softioc, name):
    """libca refuses these: CASeverityException('Invalid string'). Ours is that exception
    too (and a ValueError), naming the PV and the limit."""
    assert pyepics_create_channel(softioc, name) == ["CASeverityException",
                                                      "Invalid string"]
    ours = outcome(eca.create_channel, name)
    assert ours[0] == "raised"
    assert isinstance(ours[1], eca.CASeverityException) and isinstance(ours[1], ValueError)
    assert "Invalid string" in ours[1].msg and "1007 bytes" in ours[1].msg
    assert repr(name[:20]).rstrip("'") in str(ours[1])


@pytest.mark.parametrize("name", [None, 5, 1.5, ["a"]])
def test_names_that_are_not_strings(softioc, name):
    """pyepics: TypeError('encoding without a string argument'); ours says what it got."""
    assert pyepics_create_channel(softioc, name) == ["TypeError", ""]
    ours = outcome(eca.create_channel, name)
    assert ours[0] == "raised" and isinstance(ours[1], TypeError)
    assert repr(name) in str(ours[1])


@pytest.mark.parametrize("suffix", ["y" * 61, "y" * 900, "é", "ü:€", "x.FIELD$"])
def test_long_and_non_ascii_names_never_connect(softioc, suffix):
    name = softioc.pv(suffix)
    for lib, ca in LIBS.items():
        chid = ca.create_channel(name)
        assert ca.connect_channel(chid, timeout=0.2) is False, lib
        assert ca.get(chid, timeout=0.1) is None, lib
        assert ca.name(chid) == name, lib


def test_a_1000_byte_name_does_not_stop_other_searches(softioc):
    """Difference kept: in pyepics (libca 7.0 with rsrv), once a channel with a name of
    about 1000 bytes exists, no channel created after it connects any more (its search
    datagram is lost with every name batched into it). Shown in a subprocess, so that
    the pyepics context of this process stays usable. Ours keeps connecting."""
    long_name = softioc.pv("y" * (1000 - len(softioc.prefix)))
    script = (
        "import epics.ca as ca\n"
        f"ca.connect_channel(ca.create_channel({long_name!r}), timeout=0.3)\n"
        f"print(ca.connect_channel(ca.create_channel({softioc.pv('ao')!r}), timeout=1.5))\n"
    )
    assert run_python(script, softioc.env).split()[-1] == "False"
    long_one = eca.create_channel(long_name)
    assert eca.connect_channel(long_one, timeout=0.3) is False
    for record in ("ao.DESC", "long.DESC", "bo.DESC"):
        assert eca.connect_channel(eca.create_channel(softioc.pv(record)), timeout=3)


@pytest.mark.parametrize("name", ["a b", "x:ao ", " x:ao", "x:a\to", "x:\nao"])
def test_names_with_white_space_are_searched_and_not_found(name):
    """No EPICS record name has white space, so no server answers such a name: both
    libraries search for it and the channel never connects."""
    for ca in (pca, eca):
        chid = ca.create_channel(name)
        assert ca.connect_channel(chid, timeout=0.1) is False
        assert ca.name(chid) == name


def test_bytes_name(softioc):
    """Deliberate difference: pyepics keys its cache by the bytes but looks the channel up
    by its str name, so get() returns None -- and the str name's channel is broken too
    from then on (its get is left pending forever), so this runs in a subprocess. Ours
    decodes the name and works."""
    name = softioc.pv("ao")
    script = ("import epics.ca as ca\n"
              f"by_str = ca.create_channel({name!r}, connect=True)\n"
              f"print(ca.get(ca.create_channel({name.encode()!r}, connect=True)),\n"
              "      ca.get(by_str, timeout=0.5))\n")
    assert run_python(script, softioc.env).split()[-2:] == ["None", "None"]
    chid = eca.create_channel(name.encode(), connect=True)
    assert chid.value == connected(eca, name).value  # the same channel as by str
    assert eca.get(chid) == eca.get(connected(eca, name)) is not None


# --- timeouts -------------------------------------------------------------------------------

@pytest.mark.parametrize("timeout", [0, -1, -1e9, 1e-9])
def test_get_with_zero_or_negative_timeout_returns_at_once(softioc, timeout):
    """No wait at all: the value if it is already there, else None (pyepics: None, since
    libca has not delivered within its first poll); a later get_complete finishes."""
    for lib, ca in LIBS.items():
        chid = connected(ca, softioc.pv("wdouble:init"))
        started = time.monotonic()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = ca.get(chid, timeout=timeout)
        assert time.monotonic() - started < 0.5, lib
        assert value is None or list(value) == [0.5, -1.25, 1e10], lib
        assert list(ca.get_complete(chid, timeout=5)) == [0.5, -1.25, 1e10], lib
        assert list(ca.get(chid, timeout=5)) == [0.5, -1.25, 1e10], lib


@pytest.mark.parametrize("timeout", [0, -1, -1e9])
def test_connect_with_zero_or_negative_timeout(softioc, timeout):
    for lib, ca in LIBS.items():
        chid = ca.create_channel(softioc.pv(f"nothing:here:{lib}"))
        started = time.monotonic()
        assert ca.connect_channel(chid, timeout=timeout) is False, lib
        assert time.monotonic() - started < 0.5, lib


@pytest.mark.parametrize("timeout", [0, -1, -1e9])
def test_put_wait_with_zero_or_negative_timeout(softioc, timeout):
    """-1 at once (not completed in time), for both; the record still processes."""
    for lib, ca in LIBS.items():
        chid = connected(ca, softioc.pv("slow"))
        started = time.monotonic()
        assert ca.put(chid, 5, wait=True, timeout=timeout) == -1, lib
        assert time.monotonic() - started < 0.4, lib
        time.sleep(0.6)


def test_pend_functions_with_odd_timeouts():
    """Difference kept: to libca a zero timeout means 'forever', so pyepics' pend_io(0) and
    pend_event(0) never return (not run here for that reason). Ours has nothing to pend:
    it returns at once with the codes libca returns for an expired wait."""
    for ca in LIBS.values():
        assert ca.pend_io(1e-3) == 1
        assert ca.pend_event(1e-3) == 80  # ECA_TIMEOUT, as libca returns it
        assert ca.poll(evt=1e-3, iot=1e-3) == 1
    started = time.monotonic()
    assert eca.pend_io(0) == 1 and eca.pend_io(-1) == 1
    assert eca.pend_event(0) == 80 and eca.pend_event(-1) == 80
    assert eca.poll(evt=0, iot=0) == 1
    assert time.monotonic() - started < 0.5
