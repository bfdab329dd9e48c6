"""The command-line tools against the softIoc: output, as EPICS base prints it, and exit codes.

Each tool runs as ``python -m epics_compat.<tool>`` in a subprocess with the test IOC's
environment. Tests that write use the ``cli:`` records of test.db, which no other test
reads. The expected lines follow EPICS base's tool_lib.c: a scalar's name padded to 30
columns, an array's element count before its values, '%g' numbers, and in the wide
format two empty fields where status and severity would be when there is no alarm.
"""
from __future__ import annotations

import configparser
import importlib
import os
import re
import subprocess
import sys
import time

import pytest

from epics_compat.tools import _format

pytestmark = pytest.mark.timeout(60)

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}"
from paths import ROOT


def run(softioc, tool: str, *args: str, timeout: float = 20.0) -> subprocess.CompletedProcess:
    """Run ``python -m epics_compat.<tool> args`` with the IOC's client environment."""
    env = {**os.environ, **softioc.env}
    env.pop("EPICS_CLI_TIMEOUT", None)
    return subprocess.run([sys.executable, "-m", f"epics_compat.{tool}", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def ok(softioc, tool: str, *args: str) -> list[str]:
    """The stdout lines of a run that must succeed."""
    proc = run(softioc, tool, *args)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout.splitlines()


def plain(name: str, value: str) -> str:
    return f"{name:<30} {value}"


# --- caget ------------------------------------------------------------------------------

def test_caget_scalars_of_each_type(softioc):
    records = {"ai": "3.25", "longin": "42", "long": "-123456", "int64in": "1.23457e+12",
               "bi": "Low", "mbbi": "One", "strin": "read me", "readonly": "7"}
    lines = ok(softioc, "caget", *(softioc.pv(name) for name in records))
    assert lines == [plain(softioc.pv(name), value) for name, value in records.items()]


def test_caget_terse_and_enum_numbers(softioc):
    assert ok(softioc, "caget", "-t", softioc.pv("ai"), softioc.pv("mbbi")) == ["3.25", "One"]
    assert ok(softioc, "caget", "-tn", softioc.pv("mbbi"), softioc.pv("bi")) == ["1", "0"]
    assert ok(softioc, "caget", "-n", softioc.pv("mbbi")) == [plain(softioc.pv("mbbi"), "1")]


def test_caget_arrays(softioc):
    name = softioc.pv("wlong:init")
    # Without -c, caget asks for NELM elements (zero-filled past NORD), as EPICS base does.
    assert ok(softioc, "caget", name) == [f"{name} 10 1 2 3 4 5 0 0 0 0 0"]
    assert ok(softioc, "caget", "-#", "3", name) == [f"{name} 3 1 2 3"]
    assert ok(softioc, "caget", "-c", name) == [f"{name} 5 1 2 3 4 5"]  # NORD elements
    assert ok(softioc, "caget", "-t", "-#2", softioc.pv("wdouble:init")) == ["2 0.5 -1.25"]
    # One element asked for explicitly: the count is shown, the name padded as a scalar's.
    assert ok(softioc, "caget", "-# 1", name) == [plain(name, "1 1")]


def test_caget_char_arrays(softioc):
    name = softioc.pv("wchar:init")
    assert ok(softioc, "caget", "-S", name) == [f"{name} char waveform text"]
    codes = " ".join(str(byte) for byte in b"char waveform text")
    line, = ok(softioc, "caget", name)
    assert line.startswith(f"{name} 64 {codes} 0 0")


def test_caget_wide(softioc):
    lines = ok(softioc, "caget", "-a", softioc.pv("wlong:init"), softioc.pv("disabled"),
               softioc.pv("ai"))
    assert re.fullmatch(re.escape(softioc.pv("wlong:init")) + f" {STAMP} 10 1 2 3 4 5"
                        + " 0" * 5 + "  ", lines[0])
    assert re.fullmatch(re.escape(f"{softioc.pv('disabled'):<30} ") + f"{STAMP} 1 "
                        "DISABLE INVALID", lines[1])
    assert re.fullmatch(re.escape(f"{softioc.pv('ai'):<30} ") + f"{STAMP} 3.25 UDF NO_ALARM",
                        lines[2])


@pytest.mark.parametrize("options, value", [
    (["-f3"], "3.250"), (["-e", "2"], "3.25e+00"), (["-g2"], "3.2"),
    (["-s"], "3.2500"),  # the server formats it with PREC 4
    (["-lx"], "0x3"), (["-lb"], "11")])
def test_caget_float_formats(softioc, options, value):
    assert ok(softioc, "caget", "-t", *options, softioc.pv("ai")) == [value]


@pytest.mark.parametrize("options, record, value", [
    (["-0x"], "long", "0xFFFE1DC0"), (["-0o"], "longin", "0o52"),
    (["-0b"], "longin", "101010"), (["-0x", "-n"], "mbbi", "0x1")])
def test_caget_integer_formats(softioc, options, record, value):
    assert ok(softioc, "caget", "-t", *options, softioc.pv(record)) == [value]


def test_caget_field_separator(softioc):
    name = softioc.pv("wlong:init")
    assert ok(softioc, "caget", "-F,", "-#3", name) == [f"{name},3,1,2,3"]
    # Another separator than a space: no padding of scalar names.
    line, = ok(softioc, "caget", "-a", "-F", ";", softioc.pv("ai"))
    assert re.fullmatch(re.escape(softioc.pv("ai")) + f";{STAMP};3.25;UDF;NO_ALARM", line)


def test_caget_specified_types(softioc):
    name = softioc.pv("ai")
    assert ok(softioc, "caget", "-d", "DBR_CTRL_DOUBLE", name) == [
        name,
        "    Native data type: DBF_DOUBLE",
        "    Request type:     DBR_CTRL_DOUBLE",
        "    Element count:    1",
        "    Value:            3.25",
        "    Status:           UDF",
        "    Severity:         NO_ALARM",
        "    Units:            mm",
        "    Precision:        4",
        "    Lo disp limit:    -100",
        "    Hi disp limit:    100",
        "    Lo alarm limit:   -90",
        "    Lo warn limit:    -80",
        "    Hi warn limit:    80",
        "    Hi alarm limit:   90",
        "    Lo ctrl limit:    -100",
        "    Hi ctrl limit:    100",
        "",
    ]
    lines = ok(softioc, "caget", "-d", "CTRL_ENUM", softioc.pv("mbbi"))
    assert lines[4:] == ["    Value:            One", "    Status:           UDF",
                         "    Severity:         NO_ALARM", "    Enums:            ( 4)",
                         "                      [ 0] Zero", "                      [ 1] One",
                         "                      [ 2] Two", "                      [ 3] Three",
                         ""]
    lines = ok(softioc, "caget", "-d", "19", softioc.pv("wlong:init"))  # DBR_TIME_LONG
    assert lines[2:5] == ["    Request type:     DBR_TIME_LONG", "    Element count:    10",
                          "    Value:            1 2 3 4 5 0 0 0 0 0"]
    assert re.fullmatch(f"    Timestamp:        {STAMP}", lines[5])
    lines = ok(softioc, "caget", "-d", "DBR_CLASS_NAME", name)
    assert lines[2:4] == ["    Request type:     DBR_CLASS_NAME", "    Class Name:       ai"]


def test_caget_priority_and_debug(softioc):
    proc = run(softioc, "caget", "-v", "-p", "10", softioc.pv("longin"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [plain(softioc.pv("longin"), "42")]
    # The core's log of every message, sent (>>) and received (<<).
    assert "SearchRequest" in proc.stderr and "<< CreateChanResponse" in proc.stderr
    assert "priority=10" in proc.stderr and ">> ReadNotifyRequest" in proc.stderr


def test_caget_missing_pv(softioc):
    missing = softioc.pv("no:such:record")
    proc = run(softioc, "caget", "-w", "0.3", missing)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert f"Channel connect timed out: '{missing}' not found." in proc.stderr
    # The PVs that did connect are still printed; the exit status tells of the others.
    proc = run(softioc, "caget", "-w", "0.3", softioc.pv("longin"), missing)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [plain(softioc.pv("longin"), "42")]
    assert missing in proc.stderr


@pytest.mark.parametrize("args, message", [
    (["-q", "x"], "Unrecognized option: '-q'. ('epics-caget -h' for help.)"),
    (["-w"], "Option '-w' requires an argument."),
    ([], "No pv name specified."),
    (["--bogus", "x"], "Unrecognized option: '--bogus'.")])
def test_caget_bad_command_lines(softioc, args, message):
    proc = run(softioc, "caget", *args)
    assert proc.returncode == 1
    assert message in proc.stderr and proc.stdout == ""


def test_caget_invalid_type_and_help(softioc):
    proc = run(softioc, "caget", "-d", "DBR_NOTHING", softioc.pv("longin"))
    assert proc.returncode == 0
    assert "Requested dbr type out of range or invalid - ignored." in proc.stderr
    assert proc.stdout.splitlines() == [plain(softioc.pv("longin"), "42")]
    proc = run(softioc, "caget", "-h")
    assert proc.returncode == 0 and "Usage: epics-caget [options] <PV name> ..." in proc.stderr
    assert "DBR_TIME_DOUBLE   20" in proc.stderr


@pytest.mark.parametrize("tool", ["caget", "caput", "camonitor", "cainfo"])
def test_help_and_version_of_every_tool(softioc, tool):
    """-h prints the usage (with the timeout an earlier -w set) to stderr, -V the
    version to stdout; both end the run with 0 before any PV is looked at."""
    proc = run(softioc, tool, "-w", "2.5", "-h", "no:such:pv")
    assert proc.returncode == 0 and proc.stdout == ""
    assert f"Usage: epics-{tool} " in proc.stderr and "2.500000" in proc.stderr
    proc = run(softioc, tool, "-V", "no:such:pv")
    assert proc.returncode == 0 and proc.stderr == ""
    assert "epics_compat" in proc.stdout and "CA Protocol version 4.13" in proc.stdout


@pytest.mark.differential
def test_caget_values_match_pyepics(softioc):
    """The values printed by -t are those pyepics (libca) reads, in %g or as strings."""
    names = ["ai", "longin", "long", "int64in", "bi", "mbbi", "strin", "readonly"]
    from ioc import run_python
    code = ("import epics\n"
            f"for name in {[softioc.pv(name) for name in names]!r}:\n"
            "    value = epics.caget(name, as_string=False, timeout=5)\n"
            "    pv = epics.PV(name); pv.wait_for_connection(5)\n"
            "    if pv.enum_strs: value = pv.enum_strs[value]\n"
            "    print(value if isinstance(value, str) else '%g' % value)\n")
    expected = run_python(code, softioc.env).splitlines()
    assert ok(softioc, "caget", "-t", *(softioc.pv(name) for name in names)) == expected


# --- caput ------------------------------------------------------------------------------

def test_caput_plain_and_terse(softioc):
    name = softioc.pv("cli:ao")
    assert ok(softioc, "caput", name, "2.5") == ["Old : " + plain(name, "1.5"),
                                                 "New : " + plain(name, "2.5")]
    assert ok(softioc, "caput", "-t", name, "-4.25") == ["-4.25"]  # a negative value
    assert ok(softioc, "caget", "-t", name) == ["-4.25"]


def test_caput_with_completion(softioc):
    start = time.monotonic()
    lines = ok(softioc, "caput", "-c", "-w", "5", softioc.pv("cli:slow"), "3")
    assert lines[1] == "New : " + plain(softioc.pv("cli:slow"), "3")
    # The put completed when the seq record had written cli:slow:done, 0.5 s later.
    assert time.monotonic() - start > 0.5
    assert ok(softioc, "caget", "-t", softioc.pv("cli:slow:done")) == ["3"]


def test_caput_long_format_shows_alarm(softioc):
    name = softioc.pv("cli:alarm")
    lines = ok(softioc, "caput", "-l", name, "6")
    assert re.fullmatch("New : " + re.escape(f"{name:<30} ") + f"{STAMP} 6 HIGH MINOR",
                        lines[1])
    lines = ok(softioc, "caput", "-l", name, "0")
    assert re.fullmatch("New : " + re.escape(f"{name:<30} ") + f"{STAMP} 0  ", lines[1])


def test_caput_array(softioc):
    name = softioc.pv("cli:wdouble")
    lines = ok(softioc, "caput", "-a", name, "3", "1", "2.5", "-3")
    assert lines[1] == f"New : {name} 8 1 2.5 -3 0 0 0 0 0"
    assert ok(softioc, "caget", "-c", "-t", name) == ["3 1 2.5 -3"]


def test_caput_long_string(softioc):
    name = softioc.pv("cli:wchar")
    lines = ok(softioc, "caput", "-S", name, "tab\\there")
    assert lines[1] == f"New : {name} tab\\there"  # escaped again on output
    assert ok(softioc, "caget", "-c", "-t", name) == ["9 116 97 98 9 104 101 114 101 0"]


def test_caput_string_joins_arguments(softioc):
    name = softioc.pv("cli:str")
    assert ok(softioc, "caput", name, "a", "b", "c") == ["Old : " + plain(name, "before"),
                                                         "New : " + plain(name, "a b c")]


def test_caput_enums(softioc):
    name = softioc.pv("cli:mbbo")
    assert ok(softioc, "caput", "-t", name, "On") == ["On"]
    assert ok(softioc, "caput", "-t", name, "2") == ["Error"]  # not a state: an index
    assert ok(softioc, "caput", "-t", "-n", name, "0") == ["0"]
    proc = run(softioc, "caput", name, "Broken")
    assert proc.returncode == 1 and "Enum string value 'Broken' invalid." in proc.stderr
    proc = run(softioc, "caput", "-s", name, "1")
    assert proc.returncode == 1 and "Enum string value '1' invalid." in proc.stderr


def test_caput_failures(softioc):
    proc = run(softioc, "caput", softioc.pv("readonly"), "3")
    assert proc.returncode == 1
    assert "Error from put operation: Write access denied" in proc.stderr
    missing = softioc.pv("no:such:record")
    proc = run(softioc, "caput", "-w", "0.3", missing, "1")
    assert proc.returncode == 1 and proc.stdout == ""
    assert f"Channel connect timed out: '{missing}' not found." in proc.stderr
    proc = run(softioc, "caput", softioc.pv("cli:ao"))
    assert proc.returncode == 1 and "No value specified." in proc.stderr
    proc = run(softioc, "caput", "-a", "-S", "-x", softioc.pv("cli:ao"), "1")
    assert proc.returncode == 1 and "Unrecognized option: '-x'." in proc.stderr


# --- camonitor --------------------------------------------------------------------------

def test_camonitor_counts_updates(softioc):
    name = softioc.pv("calc")
    lines = ok(softioc, "camonitor", "-C", "3", name)
    assert len(lines) == 3
    values = []
    for line in lines:
        match = re.fullmatch(re.escape(f"{name:<30} ") + f"{STAMP} (\\d+)  ", line)
        assert match, line
        values.append(int(match.group(1)))
    assert values == list(range(values[0], values[0] + 3))  # one per scan, none lost


def test_camonitor_alarm_enum_and_char_string(softioc):
    lines = ok(softioc, "camonitor", "--count", "3", "-n", "-S", softioc.pv("disabled"),
               softioc.pv("mbbi"), softioc.pv("wchar:init"))
    assert len(lines) == 3
    by_name = {line.split()[0]: line for line in lines}
    assert by_name[softioc.pv("disabled")].endswith(" 1 DISABLE INVALID")
    assert by_name[softioc.pv("mbbi")].endswith(" 1 UDF NO_ALARM")
    assert re.fullmatch(re.escape(softioc.pv("wchar:init")) + f" {STAMP} char waveform text  ",
                        by_name[softioc.pv("wchar:init")])


def test_camonitor_relative_timestamps(softioc):
    name = softioc.pv("calc")
    lines = ok(softioc, "camonitor", "-C", "3", "-t", "sI", "-F", ",", name)
    assert re.fullmatch(re.escape(name) + f",{STAMP},\\d+,,", lines[0])
    for line in lines[1:]:
        match = re.fullmatch(re.escape(name) + r",\s+\+(\d+\.\d{6}),\d+,,", line)
        assert match and 0.05 < float(match.group(1)) < 0.5, line
    lines = ok(softioc, "camonitor", "-C", "1", "-t", "n", "-m", "va", name)
    assert re.fullmatch(re.escape(f"{name:<30}") + "  \\d+  ", lines[0])


def test_camonitor_missing_pv(softioc):
    missing = softioc.pv("no:such:record")
    proc = run(softioc, "camonitor", "-w", "0.3", "--duration", "0.6", missing)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [f"{missing:<30} *** Not connected (PV not found)"]
    assert f"'{missing}' not found" in proc.stderr


def test_camonitor_bad_mask_and_count(softioc):
    proc = run(softioc, "camonitor", "-m", "vx", "-C", "1", softioc.pv("longin"))
    assert proc.returncode == 0
    assert "Invalid argument 'vx' for option '-m' - ignored." in proc.stderr
    assert " 42 " in proc.stdout  # the default mask 'va' still gives the value
    proc = run(softioc, "camonitor", "-C", "none", softioc.pv("longin"))
    assert proc.returncode == 1 and "not a valid number of updates" in proc.stderr


# --- cainfo -----------------------------------------------------------------------------

def test_cainfo(softioc):
    lines = ok(softioc, "cainfo", softioc.pv("readonly"), softioc.pv("wchar:init"))
    host = f"127.0.0.1:{softioc.port}"
    assert lines == [
        softioc.pv("readonly"),
        "    State:            connected",
        f"    Host:             {host}",
        "    Access:           read, no write",
        "    Native data type: DBF_DOUBLE",
        "    Request type:     DBR_DOUBLE",
        "    Element count:    1",
        softioc.pv("wchar:init"),
        "    State:            connected",
        f"    Host:             {host}",
        "    Access:           read, write",
        "    Native data type: DBF_CHAR",
        "    Request type:     DBR_CHAR",
        "    Element count:    64",
    ]


def test_cainfo_missing_pv(softioc):
    missing = softioc.pv("no:such:record")
    proc = run(softioc, "cainfo", "-w", "0.3", missing)
    assert proc.returncode == 1 and proc.stdout == ""
    assert f"Channel connect timed out: '{missing}' not found." in proc.stderr


# --- packaging and formatting helpers ---------------------------------------------------

def test_console_scripts_are_declared():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    scripts = dict(line.split(" = ") for line in
                   config["options.entry_points"]["console_scripts"].strip().splitlines())
    assert sorted(scripts) == ["epics-caget", "epics-cainfo", "epics-camonitor",
                               "epics-caput", "epics-shark"]
    for target in scripts.values():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function))


def test_importing_a_tool_module_keeps_the_pyepics_function():
    code = ("import epics_compat, sys\n"
            "before = getattr(epics_compat, 'caget', None)\n"
            "import epics_compat.caget\n"
            "after = epics_compat.caget\n"
            "assert after is before if before is not None else after.__name__ == "
            "'epics_compat.caget', after\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


@pytest.mark.parametrize("raw", [b"plain text", b"tab\there\n", b"\x00\x7f\xff\\'\"",
                                 "µ".encode()])
def test_escapes_round_trip(raw):
    text = _format.escape(raw)
    assert text.isprintable() and text.isascii()
    assert _format.unescape(text) == raw


def test_format_helpers():
    assert _format.escape(b"a\x01") == "a\\x01"
    assert _format.unescape("\\x41\\x4g\\q") == b"A\x04gq"
    assert _format.format_long(-1, _format.HEX) == "0xFFFFFFFF"
    assert _format.format_long(0, _format.BIN) == "0"
    assert _format.round_to_long(-2.5) == -3 and _format.round_to_long(2.5) == 3
    assert _format.strtod(" 0x10 volts") == 16.0 and _format.strtod("-1e3x") == -1000.0
    assert _format.strtod("volts") is None
    assert _format.parse_dbr_type("TIME_DOUBLE") == 20
    assert _format.parse_dbr_type("DBR_CTRL_INT") == _format.parse_dbr_type("ctrl_short") == 29
    assert _format.parse_dbr_type("35") is None and _format.parse_dbr_type("39") is None
