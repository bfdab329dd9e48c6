"""The report of ``cainfo()`` and ``PV.info``, and ``fmt_time`` (pyepics' ``epics.pv``)."""
from __future__ import annotations

import time


def fmt_time(tstamp=None) -> str:
    """A POSIX time as 'YYYY-mm-dd HH:MM:SS.fffff' in local time (now by default)."""
    if tstamp is None:
        tstamp = time.time()
    whole, fraction = divmod(tstamp, 1)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(whole))
    return f"{stamp}.{round(1.e5 * fraction):05d}"


def cainfo_report(pv) -> str | None:
    """The multi-line report that cainfo() prints of ``pv``; None if it does not connect."""
    if not pv.wait_for_connection():
        return None
    pv.get_ctrlvars()
    family, base = 'native', pv._args['typefull']
    if '_' in base:
        family, base = base.split('_')
    if base in ('float', 'double'):
        fmt = '{val:g}'
    elif base in ('string', 'char'):
        fmt = '{val:s}'
    else:
        fmt = '{val:d}'

    pv._set_charval(pv._args['value'], call_ca=False)
    lines = [f"== {pv.pvname}  ({family}_{base}) =="]
    fields = {}
    value = pv._args['value']
    if pv.count == 1:
        fields['value'] = fmt.format(val=value)
    else:
        more = ',....' if pv.count > 10 else ''
        indices = range(min(5, pv.count))
        try:
            shown = ','.join([fmt.format(val=value[i]) for i in indices])
        except ValueError:
            shown = ','.join([repr(value[i]) for i in indices])
        except TypeError:
            shown = 'unknown'
        fields['value'] = f" array  [{shown}{more}]"
    for name in ('char_value', 'count', 'nelm', 'type', 'units', 'precision', 'host',
                 'access', 'monitor_delta', 'status', 'char_status', 'severity',
                 'char_severity', 'timestamp', 'posixseconds', 'nanoseconds',
                 'upper_ctrl_limit', 'lower_ctrl_limit', 'upper_disp_limit',
                 'lower_disp_limit', 'upper_alarm_limit', 'lower_alarm_limit',
                 'upper_warning_limit', 'lower_warning_limit'):
        attr = getattr(pv, name, None)
        if attr is None:
            continue
        if name == 'timestamp':
            attr = f"{attr:.3f} ({fmt_time(attr)})"
        elif name == 'char_value':
            attr = f"'{attr}'"
        fields[name] = str(attr)
    for key, text in fields.items():
        width = 20 if len(key) > 14 else 15
        lines.append(f"   {key:{width}s} = {text}")
    if base == 'enum':
        lines.append('   enum strings: ')
        lines.extend(f"       {index} = {name}"
                     for index, name in enumerate(pv.enum_strs))
    if pv._monref is not None:
        lines.append(f"   PV is internally monitored, with {len(pv.callbacks)} "
                     f"user-defined callbacks")
        for index in sorted(pv.callbacks):
            func = pv.callbacks[index][0]
            fname = getattr(func, '__name__', repr(func))
            code = getattr(func, '__code__', None)
            lines.append(f"      {fname} in file '{getattr(code, 'co_filename', '?')}'")
    else:
        lines.append('   PV is NOT internally monitored')
    lines.append('=============================')
    return '\n'.join(lines)
