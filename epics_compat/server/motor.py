"""``Motor``: a simulated EPICS motor record, for tests of motion with completion.

It serves ``NAME.FIELD`` for the fields that pyepics' ``Motor`` and ophyd's ``EpicsMotor``
use (and ``NAME`` itself as ``NAME.VAL``), with the record's types and metadata, and:

- a put to VAL (or DVAL, RVAL, RLV, TWF/TWR) moves at VELO, updating RBV/DRBV/RRBV every
  ``update_period``; DMOV is 0 and MOVN 1 while moving, and the put completes (WRITE_NOTIFY)
  when the move ends; a move of zero length still pulses DMOV 1 -> 0 -> 1;
- a target outside the soft limits (HLM/LLM, i.e. DHLM/DLLM in dial units; none when both
  are 0) sets LVIO=1 and does not move; optional hard limit switches (dial positions)
  stop a move and set HLS/LLS;
- STOP=1 or SPMG=Stop stops where the motor is (VAL becomes RBV); SPMG=Pause halts
  and Go/Move resumes; JOGF/JOGR move towards a limit until set back to 0; HOMF/HOMR
  move to dial 0;
- SET=1 (Set mode): a put to VAL redefines the user position (changing OFF, or the dial
  position when FOFF is Frozen) without moving; DVAL/RVAL redefine the dial position.

User = dial * (DIR Pos ? 1 : -1) + OFF; raw = dial / MRES. Motion is at constant speed
(ACCL is served but not simulated). ``NAME_able`` is the enable PV pyepics looks for.
"""
from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from caproto_core import AlarmSeverity, AlarmStatus

from .group import Group
from .pv import PV, Done

if TYPE_CHECKING:
    from .._event_loop import Timer
    from .server import Server

#: Fields by type, as the motor record declares them (DBF_ULONG is served as DOUBLE).
DOUBLE_FIELDS = ("VAL DVAL RBV DRBV OFF HLM LLM DHLM DLLM VELO VBAS VMAX ACCL BDST BVEL "
                 "BACC JVEL JAR HVEL TWV MRES ERES RRES UREV S SBAS SMAX SBAK FRAC RDBD "
                 "SPDB DLY RLV DIFF HOPR LOPR HIHI LOLO HIGH LOW PCOF ICOF DCOF LVAL LDVL "
                 "LRLV MSTA").split()
LONG_FIELDS = "RVAL RRBV RMP REP RDIF RVEL LRVL MIP SREV".split()
SHORT_FIELDS = ("DMOV MOVN HLS LLS LVIO STOP HOMF HOMR JOGF JOGR TWF TWR TDIR MISS PREC "
                "CARD RCNT RTRY ATHM RHLS RLLS").split()
STRING_FIELDS = "RTYP DESC EGU OUT".split()
_SEVERITIES = ("NO_ALARM", "MINOR", "MAJOR", "INVALID")
_SPMG = ("Stop", "Pause", "Move", "Go")
MENU_FIELDS: dict[str, tuple[str, ...]] = {
    "DIR": ("Pos", "Neg"), "FOFF": ("Variable", "Frozen"), "SET": ("Use", "Set"),
    "SPMG": _SPMG, "LSPG": _SPMG, "CNEN": ("Disable", "Enable"), "UEIP": ("No", "Yes"),
    "URIP": ("No", "Yes"), "OMSL": ("supervisory", "closed_loop"), "NTM": ("NO", "YES"),
    "DTYP": ("Soft Channel",), "STAT": tuple(status.name for status in AlarmStatus),
    "SEVR": _SEVERITIES, "HHSV": _SEVERITIES, "HSV": _SEVERITIES, "LSV": _SEVERITIES,
    "LLSV": _SEVERITIES, "HLSV": _SEVERITIES,
}
#: Fields a client cannot write (the record refuses the put).
READ_ONLY = frozenset("RBV DRBV RRBV RMP REP DMOV MOVN HLS LLS LVIO MSTA TDIR DIFF RDIF MIP "
                      "RTYP STAT SEVR LVAL LDVL LRVL MISS RCNT".split())
#: Fields in user units and in dial units: their precision, units and limits follow PREC,
#: EGU, HLM/LLM and DHLM/DLLM.
USER_FIELDS = ("VAL", "RBV", "HLM", "LLM", "OFF", "TWV", "RLV", "DIFF", "LVAL")
DIAL_FIELDS = ("DVAL", "DRBV", "DHLM", "DLLM", "LDVL")

# Bits of MSTA (the controller status word).
MSTA_DIRECTION, MSTA_DONE, MSTA_PLUS_LS, MSTA_HOMELS = 0x1, 0x2, 0x4, 0x8
MSTA_PRESENT, MSTA_MOVING, MSTA_MINUS_LS, MSTA_HOMED = 0x100, 0x400, 0x2000, 0x4000

STOP, PAUSE, MOVE, GO = range(4)


class Motor(Group):
    """A simulated motor record named ``name``; add it to a ``Server``, or declare it
    in a group with ``subgroup(Motor, "m1", velocity=2.0)`` (its name is then the
    group's prefix plus "m1").

    ``position`` is the starting user position; ``high_limit``/``low_limit`` the soft
    limits (user units); ``hard_limits`` optional (low, high) dial positions of limit
    switches. ``velocity`` is in units per second.
    """

    def __init__(self, name: str, *, position: float = 0.0, velocity: float = 1.0,
                 high_limit: float = 100.0, low_limit: float = -100.0,
                 resolution: float = 0.001, precision: int = 3, units: str = "mm",
                 description: str = "simulated motor", acceleration: float = 0.2,
                 hard_limits: tuple[float, float] | None = None, update_period: float = 0.05):
        super().__init__(name)
        self.name = name
        self.update_period = update_period
        self.hard_limits = hard_limits
        self.server: Server | None = None
        self.fields: dict[str, PV] = {}
        self._dial = float(position)
        self._target: float | None = None  # dial target while a move is wanted
        self._pending: list[Done] = []  # completions of the puts that started the move
        self._timer: Timer | None = None
        self._last_tick = 0.0
        self._moving = False
        self._homed = False
        initial: dict[str, Any] = {
            "VAL": position, "DVAL": position, "RBV": position, "DRBV": position,
            "HLM": high_limit, "LLM": low_limit, "DHLM": high_limit, "DLLM": low_limit,
            "VELO": velocity, "JVEL": velocity, "HVEL": velocity, "BVEL": velocity,
            "VMAX": 0.0, "ACCL": acceleration, "BACC": acceleration, "JAR": 0.0,
            "MRES": resolution, "ERES": resolution, "RRES": 1.0, "UREV": 1.0, "SREV": 200,
            "S": velocity,
            "TWV": 1.0, "RDBD": resolution, "SPDB": resolution, "FRAC": 1.0, "RTRY": 10,
            "PREC": precision, "EGU": units, "DESC": description, "RTYP": "motor",
            "DMOV": 1, "SPMG": GO, "LSPG": GO, "CNEN": 1, "VERS": 7.2, "OUT": "",
            "MSTA": MSTA_DONE | MSTA_PRESENT, "LVAL": position, "LDVL": position,
        }
        for field in DOUBLE_FIELDS:
            self._add(field, "double", initial.get(field, 0.0))
        for field in LONG_FIELDS:
            self._add(field, "long", initial.get(field, 0))
        for field in SHORT_FIELDS:
            self._add(field, "short", initial.get(field, 0))
        for field in STRING_FIELDS:
            self._add(field, "string", initial.get(field, ""))
        for field, states in MENU_FIELDS.items():
            self._add(field, "enum", initial.get(field, 0), enum_strs=states)
        self._add("VERS", "float", initial["VERS"])
        self.able = self.serve(PV(f"{name}_able", "enum", 0, enum_strs=("Enable", "Disable"),
                                  aliases=(f"{name}_able.VAL",), record_type="bo"))
        self._set_raw_fields()
        self._update_metadata()

    def __repr__(self) -> str:
        return (f"<Motor {self.name!r} at {self.position:g} "
                f"{'moving' if self._moving else 'done'}>")

    def _add(self, field: str, type_: str, value: Any, **options: Any) -> None:
        handler = getattr(self, f"_put_{field}", None)
        if handler is None and field in READ_ONLY:
            handler = self._refuse
        elif handler is None:
            handler = self._store
        pv = PV(f"{self.name}.{field}", type_, value, on_put=handler,
                aliases=(self.name,) if field == "VAL" else (), record_type="motor",
                **options)
        self.fields[field] = self.serve(pv)

    def detach(self) -> None:
        """Called when the server stops: a move in progress stops where it is."""
        self.stop()
        super().detach()

    def __getitem__(self, field: str) -> PV:
        return self.fields[field]

    # --- state, in the units of the record ------------------------------------------------

    def get(self, field: str) -> Any:
        return self.fields[field].value

    def _set(self, field: str, value: Any, **alarm: Any) -> None:
        self.fields[field].write(value, **alarm)

    @property
    def position(self) -> float:
        """The readback (RBV) in user units."""
        return self.get("RBV")

    @property
    def moving(self) -> bool:
        return self._moving

    def _sign(self) -> int:
        return -1 if self.get("DIR") else 1

    def _user(self, dial: float) -> float:
        return self._sign() * dial + self.get("OFF")

    def _dial_of(self, user: float) -> float:
        return (user - self.get("OFF")) * self._sign()

    def _raw(self, dial: float) -> int:
        resolution = self.get("MRES") or 1.0
        return int(round(dial / resolution))

    def _within_limits(self, dial: float) -> bool:
        high, low = self.get("DHLM"), self.get("DLLM")
        if high == 0 and low == 0:
            return True
        return low <= dial <= high

    # --- moves ---------------------------------------------------------------------------

    def _move_to(self, dial: float, done: Done) -> None:
        """Start (or retarget) a move to ``dial``; ``done`` is called when it ends."""
        if not self._within_limits(dial):
            self._set("LVIO", 1)
            # The record takes the drive fields back to where the last move went.
            self._set("VAL", self.get("LVAL"))
            self._set("DVAL", self.get("LDVL"))
            self._set("RVAL", self._raw(self.get("LDVL")))
            done()
            return
        self._set("LVIO", 0)
        self._set("DVAL", dial)
        self._set("VAL", self._user(dial))
        self._set("RVAL", self._raw(dial))
        self._set("LVAL", self.get("VAL"))
        self._set("LDVL", dial)
        self._set("LRVL", self.get("RVAL"))
        self._set("DIFF", self.get("VAL") - self.get("RBV"))
        self._set("RDIF", self._raw(dial) - self._raw(self._dial))
        if self.get("SPMG") == STOP:
            done()  # a stopped motor takes new targets but does not go there
            return
        self._target = dial
        self._pending.append(done)
        if self.get("SPMG") != PAUSE:
            self._start()

    def _start(self) -> None:
        if self._target is None:
            return
        self._set("TDIR", 1 if self._target >= self._dial else 0)
        if self._target < self._dial:
            self._set("HLS", 0)  # moving off a switch
        if self._target > self._dial:
            self._set("LLS", 0)
        if not self._moving:
            self._moving = True
            self._set("DMOV", 0)
            self._set("MOVN", 1)
            self._set("MIP", 1)
            self._set_msta()
            self._last_tick = time.monotonic()
            self._schedule()

    def _schedule(self) -> None:
        if self.server is not None:
            self._timer = self.server.call_later(self.update_period, self._tick)

    def _tick(self) -> None:
        """Advance the motion by the time since the last tick."""
        self._timer = None
        if not self._moving or self._target is None:
            return
        now = time.monotonic()
        elapsed, self._last_tick = now - self._last_tick, now
        speed = self.get("VELO")
        if speed > 0:
            step = speed * elapsed
            remaining = self._target - self._dial
            self._dial = self._target if abs(remaining) <= step else \
                self._dial + math.copysign(step, remaining)
        else:
            self._dial = self._target  # no speed given: there at once
        switch = self._hit_switch()
        self._set_readback()
        if switch is not None:
            self._set(switch, 1)
            self._finish(stopped=True)
        elif self._dial == self._target:
            self._finish(stopped=False)
        else:
            self._schedule()

    def _hit_switch(self) -> str | None:
        """'HLS' or 'LLS' if the motion ran into a limit switch (the dial is put on it)."""
        if self.hard_limits is None or self._target is None:
            return None
        low, high = self.hard_limits
        if self._target > self._dial - 1e-12 and self._dial >= high:
            self._dial = high
            return "HLS" if self._sign() > 0 else "LLS"
        if self._target < self._dial + 1e-12 and self._dial <= low:
            self._dial = low
            return "LLS" if self._sign() > 0 else "HLS"
        return None

    def _finish(self, stopped: bool) -> None:
        """The move ended (arrived, or stopped): DMOV back to 1, then the completions."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if stopped:
            self._set("VAL", self._user(self._dial))
            self._set("DVAL", self._dial)
            self._set("RVAL", self._raw(self._dial))
        self._target = None
        self._moving = False
        self._set("DIFF", self.get("VAL") - self.get("RBV"))
        self._set("MOVN", 0)
        self._set("MIP", 0)
        for field in ("JOGF", "JOGR", "HOMF", "HOMR"):
            if self.get(field):
                self._set(field, 0)
        self._set_msta()
        self._set("DMOV", 1)
        pending, self._pending = self._pending, []
        for done in pending:
            done()

    def stop(self) -> None:
        """Stop now, where the motor is (what STOP=1 does); thread-safe."""
        self._in_server_thread(self._stop_here)

    def _stop_here(self) -> None:
        if self._moving or self._target is not None:
            self._finish(stopped=True)

    def _in_server_thread(self, function) -> None:
        """The motion's state lives on the server thread: run ``function`` there."""
        if self.server is not None:
            self.server.run_in_loop(function)
        else:
            function()

    def _set_readback(self) -> None:
        self._set("DRBV", self._dial)
        self._set("RBV", self._user(self._dial))
        self._set("RRBV", self._raw(self._dial))
        self._set("RMP", self._raw(self._dial))
        self._set("REP", self._raw(self._dial))
        self._set("DIFF", self.get("VAL") - self.get("RBV"))
        self._set_msta()

    def _set_raw_fields(self) -> None:
        self._set("RVAL", self._raw(self.get("DVAL")))
        self._set("LRVL", self.get("RVAL"))
        self._set_readback()

    def _set_msta(self) -> None:
        status = MSTA_PRESENT
        if self.get("TDIR"):
            status |= MSTA_DIRECTION
        if not self._moving:
            status |= MSTA_DONE
        else:
            status |= MSTA_MOVING
        if self.get("HLS"):
            status |= MSTA_PLUS_LS
        if self.get("LLS"):
            status |= MSTA_MINUS_LS
        if self._homed:
            status |= MSTA_HOMED
        self._set("MSTA", status)

    def _update_metadata(self) -> None:
        """Precision, units and limits of the position fields follow PREC, EGU and limits."""
        precision, units = self.get("PREC"), self.get("EGU")
        user = dict(upper_ctrl_limit=self.get("HLM"), lower_ctrl_limit=self.get("LLM"),
                    upper_disp_limit=self.get("HLM"), lower_disp_limit=self.get("LLM"))
        dial = dict(upper_ctrl_limit=self.get("DHLM"), lower_ctrl_limit=self.get("DLLM"),
                    upper_disp_limit=self.get("DHLM"), lower_disp_limit=self.get("DLLM"))
        for fields, limits in ((USER_FIELDS, user), (DIAL_FIELDS, dial)):
            for field in fields:
                self.fields[field].set_metadata(units=units, precision=precision, **limits)
        for field in ("VELO", "VBAS", "VMAX", "BDST", "BVEL", "JVEL", "HVEL", "MRES", "ERES"):
            self.fields[field].set_metadata(units=units, precision=precision)

    def _user_limits_from_dial(self) -> None:
        high, low = self.get("DHLM"), self.get("DLLM")
        if self._sign() < 0:
            high, low = -low, -high
        self._set("HLM", high + self.get("OFF"))
        self._set("LLM", low + self.get("OFF"))

    def _user_values_changed(self) -> None:
        """OFF or DIR changed: every user-unit field follows the dial ones."""
        self._set("VAL", self._user(self.get("DVAL")))
        self._set("LVAL", self._user(self.get("LDVL")))
        self._user_limits_from_dial()
        self._set_readback()
        self._update_metadata()

    # --- put handlers (pv, value, done) -----------------------------------------------------

    @staticmethod
    def _store(pv: PV, value: Any, done: Done) -> None:
        pv.write(value)
        done()

    @staticmethod
    def _refuse(pv: PV, value: Any, done: Done) -> None:
        raise ValueError(f"{pv.name} is read-only")

    def _put_VAL(self, pv: PV, value: float, done: Done) -> None:
        if self.get("SET"):
            if self.get("FOFF"):  # Frozen offset: the dial position is redefined
                self._redefine_dial(self._dial_of(value))
            else:
                self._set("OFF", value - self._sign() * self._dial)
                self._set("DVAL", self._dial)
                self._user_values_changed()
            done()
            return
        self._move_to(self._dial_of(value), done)

    def _put_DVAL(self, pv: PV, value: float, done: Done) -> None:
        if self.get("SET"):
            self._redefine_dial(value)
            done()
            return
        self._move_to(value, done)

    def _put_RVAL(self, pv: PV, value: int, done: Done) -> None:
        self._put_DVAL(pv, value * (self.get("MRES") or 1.0), done)

    def _put_RLV(self, pv: PV, value: float, done: Done) -> None:
        self._set("RLV", 0.0)
        self._move_to(self._dial_of(self.get("VAL") + value), done)

    def _redefine_dial(self, dial: float) -> None:
        """Set mode: the motor is now at ``dial`` (it does not move)."""
        self._dial = dial
        self._set("DVAL", dial)
        self._set("VAL", self._user(dial))
        self._set("RVAL", self._raw(dial))
        self._set("LVAL", self.get("VAL"))
        self._set("LDVL", dial)
        self._set_readback()

    def _tweak(self, direction: int, pv: PV, value: int, done: Done) -> None:
        if not value:
            done()
            return
        target = self.get("VAL") + direction * self.get("TWV")
        self._move_to(self._dial_of(target), done)

    def _put_TWF(self, pv: PV, value: int, done: Done) -> None:
        self._tweak(1, pv, value, done)

    def _put_TWR(self, pv: PV, value: int, done: Done) -> None:
        self._tweak(-1, pv, value, done)

    def _jog(self, field: str, towards_high: bool, value: int, done: Done) -> None:
        if not value:
            self._set(field, 0)
            self._stop_here()
            done()
            return
        self._set(field, 1)
        high, low = self.get("DHLM"), self.get("DLLM")
        if high == 0 and low == 0:
            high, low = 1e9, -1e9
        if self._sign() < 0:
            towards_high = not towards_high
        self._move_to(high if towards_high else low, done)

    def _put_JOGF(self, pv: PV, value: int, done: Done) -> None:
        self._jog("JOGF", True, value, done)

    def _put_JOGR(self, pv: PV, value: int, done: Done) -> None:
        self._jog("JOGR", False, value, done)

    def _home(self, field: str, value: int, done: Done) -> None:
        if not value:
            done()
            return
        self._set(field, 1)
        self._homed = True
        self._move_to(0.0, done)

    def _put_HOMF(self, pv: PV, value: int, done: Done) -> None:
        self._home("HOMF", value, done)

    def _put_HOMR(self, pv: PV, value: int, done: Done) -> None:
        self._home("HOMR", value, done)

    def _put_STOP(self, pv: PV, value: int, done: Done) -> None:
        if value:
            self._set("STOP", 1)
            self._stop_here()
            self._set("STOP", 0)
        done()

    def _put_SPMG(self, pv: PV, value: int, done: Done) -> None:
        self._set("LSPG", self.get("SPMG"))
        self._set("SPMG", value)
        if value == STOP:
            self._stop_here()
        elif value == PAUSE:
            if self._moving:
                self._moving = False  # keeps the target and the pending completions
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
                self._set("MOVN", 0)
                self._set_msta()
        else:
            self._start()
        done()

    def _put_OFF(self, pv: PV, value: float, done: Done) -> None:
        self._set("OFF", value)
        self._user_values_changed()
        done()

    def _put_DIR(self, pv: PV, value: int, done: Done) -> None:
        self._set("DIR", value)
        self._user_values_changed()
        done()

    def _put_HLM(self, pv: PV, value: float, done: Done) -> None:
        self._set_user_limit("HLM", value)
        done()

    def _put_LLM(self, pv: PV, value: float, done: Done) -> None:
        self._set_user_limit("LLM", value)
        done()

    def _set_user_limit(self, field: str, value: float) -> None:
        dial = (value - self.get("OFF")) * self._sign()
        high_dial = (field == "HLM") == (self._sign() > 0)
        self._set("DHLM" if high_dial else "DLLM", dial)
        self._user_limits_from_dial()
        self._update_metadata()

    def _put_DHLM(self, pv: PV, value: float, done: Done) -> None:
        self._set("DHLM", value)
        self._user_limits_from_dial()
        self._update_metadata()
        done()

    def _put_DLLM(self, pv: PV, value: float, done: Done) -> None:
        self._set("DLLM", value)
        self._user_limits_from_dial()
        self._update_metadata()
        done()

    def _put_MRES(self, pv: PV, value: float, done: Done) -> None:
        if value == 0:
            raise ValueError("MRES cannot be 0")
        self._set("MRES", value)
        self._set_raw_fields()
        done()

    def _put_PREC(self, pv: PV, value: int, done: Done) -> None:
        self._set("PREC", value)
        self._update_metadata()
        done()

    def _put_EGU(self, pv: PV, value: str, done: Done) -> None:
        self._set("EGU", value)
        self._update_metadata()
        done()

    def set_alarm(self, status: int, severity: int) -> None:
        """Put VAL and RBV in alarm (e.g. ``AlarmStatus.HWLIMIT, MAJOR_ALARM``)."""
        def apply() -> None:
            for field in ("VAL", "RBV"):
                self._set(field, None, status=status, severity=severity)
            self._set("STAT", int(status))
            self._set("SEVR", int(severity))
        self._in_server_thread(apply)


__all__ = ["Motor", "AlarmSeverity", "AlarmStatus"]
