"""epics_compat.dbr's ctypes structures against pyepics' (which libca fills in pyepics).

Same names, field order, offsets and sizes, and the helpers that read a DBR buffer
(``value_offset``, ``cast_args``, ``make_callback``) give what libca's layout says.
"""
from __future__ import annotations

import ctypes

import epics.ca as pca
import epics.dbr as pdbr
import pytest

import epics_compat.dbr as edbr

STRUCTURES = ["time_string", "time_short", "time_float", "time_enum", "time_char",
              "time_long", "time_double", "ctrl_enum", "ctrl_short", "ctrl_char",
              "ctrl_long", "ctrl_float", "ctrl_double", "event_handler_args",
              "connection_args", "access_rights_handler_args"]


def layout(structure) -> list:
    return [(name, getattr(structure, name).offset, ctypes.sizeof(ctype))
            for name, ctype in structure._fields_]


@pytest.mark.parametrize("name", STRUCTURES)
def test_structures_have_pyepics_layout(name):
    ours, theirs = getattr(edbr, name), getattr(pdbr, name)
    assert layout(ours) == layout(theirs)
    assert ctypes.sizeof(ours) == ctypes.sizeof(theirs)


def test_map_has_every_key_of_pyepics_with_the_same_sizes():
    assert sorted(edbr.Map) == sorted(pdbr.Map)
    for key, ctype in pdbr.Map.items():
        assert ctypes.sizeof(edbr.Map[key]) == ctypes.sizeof(ctype), key


def test_value_offset_is_libcas():
    pca.initialize_libca()  # pyepics replaces its placeholder with libca's table
    assert list(edbr.value_offset) == list(pdbr.value_offset)


def test_a_time_double_can_be_built_and_read():
    value = edbr.time_double(status=3, severity=2, value=1.5)
    value.stamp.secs, value.stamp.nsec = 1_000_000, 250_000_000
    assert (value.status, value.severity, value.value) == (3, 2, 1.5)
    assert edbr.make_unixtime(value.stamp) == edbr.EPICS2UNIX_EPOCH + 1_000_000.25


def event_args(ftype: int, buffer, count: int) -> edbr.event_handler_args:
    return edbr.event_handler_args(usr=None, chid=7, type=ftype, count=count,
                                   raw_dbr=ctypes.addressof(buffer), status=1)


def test_cast_args_reads_a_ctrl_buffer_and_its_values():
    """A CTRL_DOUBLE buffer of three values: the structure, then the values after it."""
    offset = edbr.value_offset[edbr.CTRL_DOUBLE]
    buffer = ctypes.create_string_buffer(offset + 3 * 8)
    head = edbr.ctrl_double.from_buffer(buffer)
    head.precision, head.units, head.upper_ctrl_limit = 4, b"mm", 10.0
    (ctypes.c_double * 3).from_buffer(buffer, offset)[:] = [1.0, 2.0, 3.0]
    structure, values = edbr.cast_args(event_args(edbr.CTRL_DOUBLE, buffer, 3))
    assert (structure.precision, structure.units, structure.upper_ctrl_limit) == \
        (4, b"mm", 10.0)
    assert list(values) == [1.0, 2.0, 3.0]


def test_cast_args_of_native_and_unknown_types():
    buffer = (ctypes.c_int * 2)(5, -6)
    structure, values = edbr.cast_args(event_args(edbr.LONG, buffer, 2))
    assert structure is None and list(values) == [5, -6]
    assert edbr.cast_args(event_args(edbr.STSACK_STRING, buffer, 1)) == [None, None]


def test_make_callback_gives_a_c_function_that_receives_the_structure():
    seen = []
    callback = edbr.make_callback(lambda args: seen.append((args.chid, args.op)),
                                  edbr.connection_args)
    callback(edbr.connection_args(chid=12, op=edbr.OP_CONN_UP))
    assert seen == [(12, edbr.OP_CONN_UP)]
