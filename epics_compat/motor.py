"""pyepics' ``epics.motor``: the EPICS motor record as a Device.

``m = Motor('XX:m1')``; ``m.move(10, wait=True)``; ``m.get_position(readback=True)``;
``m.tweak('reverse')``; ``m.stop()``; ``m.set_position(0)``. Fields are attributes
(``m.VELO``) and so are their long names (``m.slew_speed``).
"""
from __future__ import annotations

import sys
import time

from . import ca, device


class MotorLimitException(Exception):
    """A soft or hard limit was hit."""

    def __init__(self, msg, *args):
        Exception.__init__(self, *args)
        self.msg = msg

    def __str__(self):
        return str(self.msg)


class MotorException(Exception):
    """Not a motor, or no such motor field."""

    def __init__(self, msg, *args):
        Exception.__init__(self, *args)
        self.msg = msg

    def __str__(self):
        return str(self.msg)


# Long attribute names of motor record fields.
_FIELD_NAMES = """
    ACCL acceleration       ATHM use_home           BACC back_accel
    BDST backlash           BVEL back_speed         CARD card
    CNEN use_torque         DCOF deriv_gain         DESC description
    DHLM dial_high_limit    DIR direction           DLLM dial_low_limit
    DLY settle_time         DMOV done_moving        DRBV dial_readback
    DTYP device_type        DVAL dial_drive         EGU units
    ERES encoder_step       FOFF freeze_offset      FRAC move_fraction
    HHSV hi_severity        HIGH hi_alarm           HIHI hihi_alarm
    HLM high_limit          HLS high_limit_set      HLSV hw_limit
    HOMF home_forward       HOMR home_reverse       HOPR high_op_range
    HSV high_severity       ICOF integral_gain      JAR jog_accel
    JOGF jog_forward        JOGR jog_reverse        JVEL jog_speed
    LDVL last_dial_val      LLM low_limit           LLS low_limit_set
    LLSV lo_severity        LOLO lolo_alarm         LOPR low_op_range
    LOW low_alarm           LRLV last_rel_val       LRVL last_dial_drive
    LSPG last_SPMG          LSV low_severity        LVAL last_drive
    LVIO soft_limit         MIP in_progress         MISS missed
    MOVN moving             MRES resolution         MSTA motor_status
    OFF offset              OMSL output_mode        OUT output
    PCOF prop_gain          PREC precision          RBV readback
    RCNT retry_count        RDBD retry_deadband     RDIF dial_difference
    REP raw_encoder_pos     RHLS raw_high_limit     RLLS raw_low_limit
    RLV relative_value      RMP raw_motor_pos       RRBV raw_readback
    RRES readback_res       RTRY retry_max          RTYP record_type
    RVAL raw_drive          RVEL dial_speed         S s_speed
    SBAK s_back_speed       SBAS s_base_speed       SET set
    SMAX s_max_speed        SPMG stop_go            SREV s_revolutions
    STAT status             STOP stop_command       TDIR t_direction
    TWF tweak_forward       TWR tweak_reverse       TWV tweak_val
    UEIP use_encoder        UREV u_revolutions      URIP use_rdbl
    VAL drive               VBAS base_speed         VELO slew_speed
    VERS version            VMAX max_speed
"""


def _field_table(text):
    words = text.split()
    return {long: field for field, long in zip(words[::2], words[1::2])}


# move() return codes.
_NONFLOAT, _OUTSIDE_LIMITS, _UNCONNECTED = -13, -12, -11
_TIMEOUT, _TIMEOUT_BUTDONE = -8, -7
_UNKNOWN_ERROR = -5
_DONEW_SOFTLIM, _DONEW_HARDLIM = -4, -3
_DONE_OK = 0
_MOVE_BEGUN, _MOVE_BEGUN_CONFIRMED = 0, 1
_NOWAIT_SOFTLIM, _NOWAIT_HARDLIM = 4, 3


class Motor(device.Device):
    """An EPICS motor record.

    Every field is an attribute (``m.VELO``, ``m.HLM = 10``), and so is its long name:
    drive (VAL), readback (RBV), slew_speed (VELO), base_speed (VBAS), acceleration
    (ACCL), description (DESC), resolution (MRES), high_limit / low_limit (HLM / LLM),
    dial_high_limit / dial_low_limit (DHLM / DLLM), backlash (BDST), offset (OFF),
    done_moving (DMOV), and more (see ``Motor._alias``).

    move() checks the soft limits first unless ``ignore_limits``; check_limits() raises
    MotorLimitException when a limit switch or soft limit is active.
    """

    _extras = {'disabled': '_able.VAL'}
    _alias = _field_table(_FIELD_NAMES)
    _init_list = ('VAL', 'DESC', 'RTYP', 'RBV', 'PREC', 'TWV', 'FOFF', 'VELO', 'STAT',
                  'SET', 'LLM', 'HLM', 'SPMG', 'LVIO', 'HLS', 'LLS', 'disabled')
    _nonpvs = ('_prefix', '_pvs', '_delim', '_init', '_init_list', '_alias', '_extras')

    def __init__(self, name=None, timeout=3.0):
        if name is None:
            raise MotorException("must supply motor name")
        if name.endswith('.VAL'):
            name = name[:-4]
        if name.endswith('.'):
            name = name[:-1]
        self._prefix = name
        # The extras are added below under their real PV names, so they are left out
        # here rather than made as '<name>.<extra>' channels that never connect.
        attrs = [attr for attr in self._init_list if attr not in self._extras]
        device.Device.__init__(self, name, delim='.', attrs=attrs, timeout=timeout)
        if self.get('RTYP') != 'motor':
            raise MotorException(f"{name} is not an Epics Motor")
        for attr, suffix in self._extras.items():
            self.add_pv(f"{name}{suffix}", attr=attr)
        self._callbacks = {}

    def __repr__(self):
        return f"<epics.Motor: {self._prefix}: '{self.DESC}'>"

    def __str__(self):
        return self.__repr__()

    def __getattr__(self, attr):
        attr = self._alias.get(attr, attr)
        if attr in self._pvs:
            return self.get(attr)
        if attr.startswith('__') or device._is_interactive_probe(attr):
            # Plain attribute lookups (copy, pickle, IPython) must fail fast.
            raise AttributeError(attr)
        thispv = self.PV(attr, connect=True)
        if not thispv.connected:
            raise MotorException(f"EpicsMotor has no attribute {attr}")
        return self.get(attr)

    def __setattr__(self, attr, val):
        if attr in ('name', '_prefix', '_pvs', '_delim', '_init', '_alias', '_nonpvs',
                    '_extra', '_callbacks'):
            self.__dict__[attr] = val
            return None
        attr = self._alias.get(attr, attr)
        if attr in self._pvs:
            return self.put(attr, val)
        if attr in self.__dict__:
            self.__dict__[attr] = val
        elif self._init:
            try:
                self.PV(attr)
                return self.put(attr, val)
            except Exception:
                raise MotorException(f"EpicsMotor has no attribute {attr}") from None
        return None

    def __dir__(self):
        # The long field names too, for tab completion.
        return sorted(set(device.Device.__dir__(self)) | set(self._alias))

    def put(self, attr, value, wait=False, use_complete=False, timeout=10):
        """Write a field (long names allowed); see PV.put."""
        attr = self._alias.get(attr, attr)
        thispv = self.PV(attr)
        thispv.wait_for_connection()
        return thispv.put(value, wait=wait, use_complete=use_complete, timeout=timeout)

    def get(self, attr, as_string=False, count=None, timeout=None):
        """Read a field (long names allowed); see PV.get."""
        attr = self._alias.get(attr, attr)
        return self.PV(attr).get(as_string=as_string, count=count, timeout=timeout)

    def check_limits(self):
        """Raise MotorLimitException if a soft limit (LVIO) or a limit switch is active."""
        for field, message in (('LVIO', 'Soft limit violation'),
                               ('HLS', 'High hard limit violation'),
                               ('LLS', 'Low  hard limit violation')):
            if self.get(field) != 0:
                raise MotorLimitException(message)

    def within_limits(self, val, dial=False):
        """Whether ``val`` lies within the user (or with ``dial``, dial) soft limits."""
        low, high = ('DLLM', 'DHLM') if dial else ('LLM', 'HLM')
        return self.get(low) <= val <= self.get(high)

    def move(self, val=None, relative=False, wait=False, timeout=300.0, dial=False,
             step=False, raw=False, ignore_limits=False, confirm_move=False):
        """Move to ``val`` (user units; ``dial`` or ``raw``/``step`` for the others).

        relative: ``val`` is an offset from the current drive position; wait: return
        when done (at most ``timeout`` seconds); confirm_move: without wait, check for
        up to 0.25 s that motion started. Returns 0 when done (or started), 1 when a
        start was confirmed; 3 / 4 hard / soft limit seen without wait; -3 / -4 hard /
        soft limit seen after a wait; -5 unexpected put result; -7 timed out but done;
        -8 timed out; -11 not connected; -12 outside the soft limits (no move);
        -13 ``val`` is not a number.
        """
        step = step or raw
        try:
            val = float(val)
        except TypeError:
            return _NONFLOAT
        if dial:
            drive = 'DVAL'
        elif step:
            drive = 'RVAL'
        else:
            drive = 'VAL'
        if relative:
            val += self.get(drive)
        if not ignore_limits and not step and not self.within_limits(val, dial=dial):
            return _OUTSIDE_LIMITS

        status = self.put(drive, val, wait=wait, timeout=timeout)
        if status is None:
            return _UNCONNECTED
        if wait and status == -1:
            return _TIMEOUT if self.get('DMOV') == 0 else _TIMEOUT_BUTDONE
        if status != 1:
            return _UNKNOWN_ERROR
        if wait:
            if self.get('LVIO') == 1:
                return _DONEW_SOFTLIM
            if self.get('HLS') == 1 or self.get('LLS') == 1:
                return _DONEW_HARDLIM
            return _DONE_OK
        if confirm_move or self.get('LVIO') == 1:
            ca.poll(evt=1.e-2)
        if confirm_move:
            started = time.monotonic()
            while self.get('MOVN') == 0 and time.monotonic() - started <= 0.25:
                ca.poll(evt=1.e-3)
        if self.get('MOVN') == 1:
            return _MOVE_BEGUN_CONFIRMED
        if self.get('LVIO') == 1:
            return _NOWAIT_SOFTLIM
        if self.get('HLS') == 1 or self.get('LLS') == 1:
            return _NOWAIT_HARDLIM
        return _MOVE_BEGUN

    def get_position(self, dial=False, readback=False, step=False, raw=False):
        """The drive position (or with ``readback`` the readback) in user, dial or raw
        (``step``/``raw``) coordinates."""
        if dial:
            drive, rbv = 'DVAL', 'DRBV'
        elif step or raw:
            drive, rbv = 'RVAL', 'RRBV'
        else:
            drive, rbv = 'VAL', 'RBV'
        return self.get(rbv if readback else drive)

    def tweak(self, direction='foreward', wait=False, timeout=300.0):
        """Move by the tweak step TWV, forward or (direction 'rev...'/'back...') reverse.

        Returns 0 on success, -1 on a limit violation or failed put."""
        field = 'TWR' if direction.startswith(('rev', 'back')) else 'TWF'
        status = self.put(field, 1, wait=wait, timeout=timeout)
        result = status
        if status == 1:
            result = 0
        if status == -2:
            result = -1
        try:
            self.check_limits()
        except MotorLimitException:
            result = -1
        return result

    def set_position(self, position, dial=False, step=False, raw=False):
        """Redefine the current position as ``position`` (user, dial or raw steps)
        without moving: SET mode, write the drive field, back to USE mode."""
        self.put('SET', 1, wait=True)
        if dial:
            drive = 'DVAL'
        elif step or raw:
            drive = 'RVAL'
        else:
            drive = 'VAL'
        self.put(drive, position, wait=True)
        self.put('SET', 0)

    def get_pv(self, attr):
        """The PV of a field."""
        return self.PV(attr)

    def clear_callback(self, attr='drive'):
        """Remove the callback set_callback() added to a field."""
        try:
            index = self._callbacks.get(attr, None)
            if index is not None:
                self.PV(attr).remove_callback(index=index)
        except Exception:
            self.PV(attr).clear_callbacks()

    def set_callback(self, attr='VAL', callback=None, kws=None):
        """Call ``callback`` on changes of a field, with ``motor_field=attr`` and ``kws``."""
        self.get(attr)
        extra = {'motor_field': attr}
        if kws is not None:
            extra.update(kws)
        self._callbacks[attr] = self.PV(attr).add_callback(callback=callback, **extra)

    def refresh(self):
        """Let pending updates arrive (the fields are monitored)."""
        ca.poll()

    def StopNow(self):
        """Stop at once."""
        self.stop()

    def stop(self):
        """Stop at once (writes STOP)."""
        self.STOP = 1

    def make_step_list(self, minstep=0.0, maxstep=None, decades=10):
        """Step sizes 1, 2, 5 x 10**n from the motor's precision up to ``maxstep``
        (default: 60% of the soft-limit range), as for a drop-down menu."""
        if maxstep is None:
            maxstep = 0.6 * abs(self.HLM - self.LLM)
        steps = []
        for decade in range(decades):
            for mult in (1, 2, 5):
                size = mult * 10 ** (decade - self.PREC)
                if 0.98 * minstep < size <= maxstep:
                    steps.append(size)
        return steps

    def get_info(self):
        """The main settings as text, by field name."""
        return {field: self.get(field, as_string=True)
                for field in ('DESC', 'VAL', 'RBV', 'PREC', 'VELO', 'STAT', 'SET', 'TWV',
                              'LLM', 'HLM', 'SPMG')}

    def show_info(self):
        """Print the main settings."""
        ca.poll()
        lines = [repr(self), "--------------------------------------"]
        for field, text in self.get_info().items():
            lines.append(f"{field:16s} = {text}" if len(field) < 16 else f"{field} = {text}")
        lines.append("--------------------------------------")
        ca.write("\n".join(lines))

    def show_all(self):
        """Print every field by long name, with its value and PV name."""
        lines = [f"# Motor {self._prefix}",
                 "#  field               value                 PV name",
                 "#------------------------------------------------------------"]
        ca.poll()
        for attr in sorted(self._alias):
            field = self._alias[attr]
            text = self.get(field, as_string=True)
            if text is None:
                text = 'Not Connected??'
            lines.append(f" {attr:18s}  {text:18s}  {self.PV(field).pvname}")
        ca.write("\n".join(lines))


if __name__ == '__main__':
    for arg in sys.argv[1:]:
        Motor(arg).show_info()
