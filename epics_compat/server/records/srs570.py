"""``SRS570``: a simulated SRS570 current preamplifier (synApps ip's SR570 database).

Served under ``PREFIX`` (e.g. ``XX:A1``): sens_num (1 .. 500) and sens_unit (pA/V ..
mA/V), offset_num, offset_unit (pA .. mA), offset_sign, offset_on, off_u_put, bias_put,
bias_on, gain_mode, filter_type, invert_on, and ``init`` (a record: a put to init.PROC
sends the settings to the amplifier). ``init`` counts the sends; ``gain`` is the
sensitivity sent last, in A/V, and ``offset_current`` the offset current sent last in A
(signed; 0 while offset_on is OFF).
"""
from __future__ import annotations

from typing import Any

from ..pv import PV, Done
from ._base import SimRecord

STEPS = ("1", "2", "5", "10", "20", "50", "100", "200", "500")
SENS_UNITS = ("pA/V", "nA/V", "uA/V", "mA/V")
OFFSET_UNITS = ("pA", "nA", "uA", "mA")


class SRS570(SimRecord):
    """An SR570 at ``prefix`` (its fields are ``prefix + field``)."""

    record_type = "SR570"

    def __init__(self, prefix: str):
        super().__init__(prefix, delim="")
        self.add("sens_num", "enum", 5, enum_strs=STEPS, record_type="mbbo")
        self.add("sens_unit", "enum", 1, enum_strs=SENS_UNITS, record_type="mbbo")
        self.add("offset_num", "enum", 2, enum_strs=STEPS, record_type="mbbo")
        self.add("offset_unit", "enum", 1, enum_strs=OFFSET_UNITS, record_type="mbbo")
        self.add("offset_sign", "enum", 0, enum_strs=("+", "-"), record_type="bo")
        self.add("offset_on", "enum", 0, enum_strs=("OFF", "ON"), record_type="bo")
        self.add("off_u_put", "double", 0.0, record_type="ao")
        self.add("bias_put", "double", 0.0, precision=3, units="V", record_type="ao")
        self.add("bias_on", "enum", 0, enum_strs=("OFF", "ON"), record_type="bo")
        self.add("gain_mode", "enum", 0, enum_strs=("LOW NOISE", "HIGH BW", "LOW DRIFT"),
                 record_type="mbbo")
        self.add("filter_type", "enum", 0,
                 enum_strs=("No filter", "6dB highpass", "12dB highpass", "6dB bandpass",
                            "6dB lowpass", "12dB lowpass"), record_type="mbbo")
        self.add("invert_on", "enum", 0, enum_strs=("OFF", "ON"), record_type="bo")
        self.add("init", "long", 0, read_only=True, record_type="sseq")
        self.add("init.PROC", "short", 0, on_put=self._put_init, record_type="sseq")
        self.add("gain", "double", 0.0, read_only=True, record_type="ai")
        self.add("offset_current", "double", 0.0, read_only=True, record_type="ai")

    def _put_init(self, pv: PV, value: Any, done: Done) -> None:
        """The settings go to the amplifier: gain and offset current as it now has them."""
        self.set("init", self.get("init") + 1)
        self.set("gain", _amps(self.get("sens_num"), self.get("sens_unit")))
        offset = _amps(self.get("offset_num"), self.get("offset_unit"))
        if self.get("offset_sign"):
            offset = -offset
        self.set("offset_current", offset if self.get("offset_on") else 0.0)
        done()


def _amps(step: int, unit: int) -> float:
    """Step ``step`` of unit ``unit`` in amperes (pA is 1e-12), written exactly."""
    return float(f"{STEPS[step]}e{3 * unit - 12}")
