"""Where the tests' files are: the tests directory, the repository root, the test data.

Test modules live one directory down (tests/core, tests/api, ...); helpers such as this
one stay in tests/, which conftest.py puts on sys.path.
"""
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
DATA = TESTS / "data"
