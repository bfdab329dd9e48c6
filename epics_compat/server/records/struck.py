"""``Struck``: a simulated Struck SIS3820 multichannel scaler (synApps mca's SIS38XX).

Served under ``PREFIX`` (e.g. ``XX:SIS1:``): ChannelAdvance (Internal/External),
Prescale, EraseStart, EraseAll, StartAll, StopAll, PresetReal, ElapsedReal, Dwell,
Acquiring (Done/Acquiring), NuseAll, CurrentChannel, CountOnStart, InitialChannelAdvance,
SoftwareChannelAdvance, Channel1Source, ReadAll, DoReadAll, Model, Firmware; and one
``Mca`` record per input, ``PREFIX + 'mca1'`` .. (their spectra grow by one channel at
each channel advance; NORD is the number of channels so far).

EraseStart=1 erases and starts, StartAll=1 starts without erasing, StopAll=1 stops,
EraseAll=1 erases. With internal channel advance a channel is closed every Dwell
seconds; with external advance at every ``Prescale``-th pulse: a put of 1 to
SoftwareChannelAdvance or a call of ``pulse()`` stands for one. Acquisition ends after
NuseAll channels, or PresetReal seconds (when not 0). Input 1 counts the clock
(``clock_hz``): Dwell * clock_hz per channel with internal advance, the clock counts
between two advances with external advance. Input i > 1 counts ``100 * i + channel``
(the channel index from 0) per channel, so that spectra can be checked exactly. The
EraseStart and StartAll puts complete when acquisition ends.
"""
from __future__ import annotations

import time
from typing import Any

from ..pv import PV, Done
from ._base import SimRecord
from .mca import Mca

INTERNAL, EXTERNAL = 0, 1


class Struck(SimRecord):
    """A SIS3820 at ``prefix`` with ``nchan`` inputs of ``nmax`` channels each."""

    record_type = "SIS38XX"

    def __init__(self, prefix: str, nchan: int = 8, nmax: int = 2000, *,
                 clock_hz: float = 50e6):
        super().__init__(prefix, delim="")
        self.clock_hz = clock_hz
        self.mcas = [Mca(f"{prefix}mca{i}", nmax=nmax, rates=[0.0] * nmax)
                     for i in range(1, nchan + 1)]
        self._pending: list[Done] = []
        self._started = 0.0
        self._last_advance = 0.0
        self._pulses = 0
        self._timer = None
        self.add("ChannelAdvance", "enum", INTERNAL, enum_strs=("Internal", "External"))
        self.add("Prescale", "long", 1)
        self.add("EraseStart", "short", 0, on_put=self._put_start)
        self.add("StartAll", "short", 0, on_put=self._put_start)
        self.add("EraseAll", "short", 0, on_put=self._put_EraseAll)
        self.add("StopAll", "short", 0, on_put=self._put_StopAll)
        self.add("PresetReal", "double", 0.0, precision=3, units="sec")
        self.add("ElapsedReal", "double", 0.0, precision=3, units="sec", read_only=True)
        self.add("Dwell", "double", 0.1, precision=4, units="sec")
        self.add("Acquiring", "enum", 0, enum_strs=("Done", "Acquiring"), read_only=True)
        self.add("NuseAll", "long", 100)
        self.add("CurrentChannel", "long", 0, read_only=True)
        self.add("CountOnStart", "enum", 0, enum_strs=("No", "Yes"))
        self.add("InitialChannelAdvance", "enum", 0, enum_strs=("No", "Yes"))
        self.add("SoftwareChannelAdvance", "short", 0, on_put=self._put_advance)
        self.add("Channel1Source", "enum", 0, enum_strs=("Int. clock", "External"))
        self.add("ReadAll", "enum", 0, enum_strs=("Passive", "Event", "I/O Intr", "10 second",
                                                  "5 second", "2 second", "1 second",
                                                  ".5 second", ".2 second", ".1 second"))
        self.add("DoReadAll", "short", 0)
        self.add("Model", "string", "SIS3820", read_only=True)
        self.add("Firmware", "long", 0x010A, read_only=True)

    @property
    def parts(self) -> list[SimRecord]:
        return list(self.mcas)

    @property
    def acquiring(self) -> bool:
        return bool(self.get("Acquiring"))

    def erase(self) -> None:
        for mca in self.mcas:
            mca.set_spectrum([])
        self.set("CurrentChannel", 0)
        self.set("ElapsedReal", 0.0)

    def _put_start(self, pv: PV, value: Any, done: Done) -> None:
        if not value:
            done()
            return
        if pv is self.fields["EraseStart"]:
            self.erase()
        self._pending.append(done)
        if not self.acquiring:
            self._start()

    def _start(self) -> None:
        self.set("Acquiring", 1)
        self._started = self._last_advance = time.monotonic()
        self._pulses = 0
        self._schedule()

    def _schedule(self) -> None:
        """Next event: a channel advance (internal) or a look at the clock (external)."""
        if self.get("ChannelAdvance") == INTERNAL:
            delay = max(self.get("Dwell"), 1e-3)
        else:
            delay = 0.05
        preset = self.get("PresetReal")
        if preset > 0:
            delay = max(0.0, min(delay, preset - (time.monotonic() - self._started)))
        self._timer = self.later(delay, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if not self.acquiring:
            return
        if self.get("ChannelAdvance") == INTERNAL:
            self._advance(self.clock_hz * self.get("Dwell"))
        self._check_end()

    def _check_end(self) -> None:
        if not self.acquiring:
            return
        elapsed = time.monotonic() - self._started
        self.set("ElapsedReal", round(elapsed, 6))
        preset = self.get("PresetReal")
        if self.get("CurrentChannel") >= self.get("NuseAll") or (0 < preset <= elapsed):
            self.stop()
        elif self._timer is None:
            self._schedule()

    def _advance(self, clock_counts: float) -> None:
        """Close the current channel of every input."""
        channel = self.get("CurrentChannel")
        for number, mca in enumerate(self.mcas, start=1):
            counts = int(clock_counts) if number == 1 else 100 * number + channel
            mca.set_spectrum(mca.spectrum + [counts])
        self.set("CurrentChannel", channel + 1)

    def pulse(self) -> None:
        """One external channel-advance pulse (thread-safe)."""
        with self.fields["Acquiring"].lock:
            if not self.acquiring or self.get("ChannelAdvance") != EXTERNAL:
                return
            self._pulses += 1
            if self._pulses % max(1, self.get("Prescale")):
                return
            now = time.monotonic()
            self._advance(self.clock_hz * (now - self._last_advance))
            self._last_advance = now
            self._check_end()

    def _put_advance(self, pv: PV, value: Any, done: Done) -> None:
        if value:
            self.pulse()
        done()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.acquiring:
            self.set("ElapsedReal", round(time.monotonic() - self._started, 6))
            self.set("Acquiring", 0)
        pending, self._pending = self._pending, []
        for done in pending:
            done()

    def _put_StopAll(self, pv: PV, value: Any, done: Done) -> None:
        if value:
            self.stop()
        done()

    def _put_EraseAll(self, pv: PV, value: Any, done: Done) -> None:
        if value:
            self.erase()
        done()

    def detach(self) -> None:
        self._timer = None
        super().detach()
