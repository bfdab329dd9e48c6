"""Helpers for the tests of ``epics_compat.ca`` against pyepics' ``epics.ca`` (the oracle).

Both libraries run in the test process and read the same client environment, which
conftest.py put into ``os.environ`` before either was imported.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np

import epics.ca as pca  # pyepics (libca), the oracle
from epics_compat import ca as eca  # the library under test

LIBS = {"pyepics": pca, "epics_compat": eca}


def connected(ca, name: str, timeout: float = 5.0):
    """The chid of ``name`` in library ``ca``, connected."""
    chid = ca.create_channel(name)
    assert ca.connect_channel(chid, timeout=timeout), f"{name} did not connect ({ca})"
    return chid


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes (pyepics' callbacks run
    on libca's threads, ours on our dispatcher: neither can be waited on directly)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def outcome(function: Callable, *args, **kwargs):
    """('ok', result) or ('raised', exception) of a call."""
    try:
        return "ok", function(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 -- the exception is the result here
        return "raised", exc


def assert_same(expected, actual, where: str = "value") -> None:
    """``actual`` (epics_compat) equals ``expected`` (pyepics) in value *and* type.

    numpy arrays: same dtype, same shape, equal elements (NaN equal to NaN). Scalars:
    the same Python type. Sequences and dicts: element by element, keys included.
    """
    if isinstance(expected, np.ndarray):
        assert isinstance(actual, np.ndarray), f"{where}: {actual!r} is not an ndarray"
        assert actual.dtype == expected.dtype, f"{where}: dtype {actual.dtype} != " \
                                               f"{expected.dtype}"
        assert actual.shape == expected.shape, f"{where}: shape {actual.shape} != " \
                                               f"{expected.shape}"
        assert np.array_equal(actual, expected,
                              equal_nan=expected.dtype.kind in "fc"), \
            f"{where}: {actual!r} != {expected!r}"
        return
    assert type(actual) is type(expected), \
        f"{where}: type {type(actual).__name__} ({actual!r}) != " \
        f"{type(expected).__name__} ({expected!r})"
    if isinstance(expected, dict):
        assert sorted(actual) == sorted(expected), f"{where}: keys {sorted(actual)} != " \
                                                   f"{sorted(expected)}"
        for key in expected:
            assert_same(expected[key], actual[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), f"{where}: {actual!r} != {expected!r}"
        for index, (e, a) in enumerate(zip(expected, actual)):
            assert_same(e, a, f"{where}[{index}]")
    elif isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(actual), f"{where}: {actual!r} != nan"
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def assert_same_outcome(expected, actual, where: str) -> None:
    """Two outcome() results agree: same value, or exceptions of the same class
    (ours may be a subclass that adds the PV name) and the same CA status if any."""
    assert expected[0] == actual[0], f"{where}: pyepics {expected[1]!r}, " \
                                     f"epics_compat {actual[1]!r}"
    if expected[0] == "ok":
        assert_same(expected[1], actual[1], where)
        return
    exc_e, exc_a = expected[1], actual[1]
    assert type(exc_a).__name__ == type(exc_e).__name__ or \
        isinstance(exc_a, _builtin_base(exc_e)), f"{where}: pyepics raised {exc_e!r}, " \
                                                 f"epics_compat raised {exc_a!r}"
    assert getattr(exc_a, "status", None) == getattr(exc_e, "status", None), where


def _builtin_base(exc: Exception) -> type:
    """The exception class to compare by: a builtin one, or the matching class of ours."""
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls
    return getattr(eca, cls.__name__, cls)
