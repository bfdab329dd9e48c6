"""The repository stands alone: no test reads a file outside it."""
from __future__ import annotations

import re

from paths import ROOT, TESTS

#: Path-like text in test sources that would leave the repository: a parent directory
#: reached with '..', the shared captures folder that sits beside a checkout, or an absolute
#: path into /work (a developer's machine). System paths (/proc, /usr/bin, /tmp) are
#: what tests inspect or run, not data.
LEAVING = [
    re.compile(r"""["'][^"'\n]*\.\./"""),
    re.compile(r"""parents\[\s*[2-9]\s*\]"""),
    re.compile(r"""["'][^"'\n]*\bshared/captures"""),
    re.compile(r"""["']/work/"""),
]


def test_no_test_reads_outside_the_repository():
    offenders = []
    for path in sorted(TESTS.rglob("*.py")) + sorted((ROOT / "benchmarks").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if path.name == "test_repository.py" and "re.compile" in line:
                continue
            if any(pattern.search(line) for pattern in LEAVING):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_the_reference_data_is_in_the_repository():
    for name in ("libca_rsrv.pcap", "types.db"):
        assert (TESTS / "data" / name).is_file(), name
