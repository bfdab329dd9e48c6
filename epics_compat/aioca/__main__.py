"""``python -m epics_compat.aioca --version``, as ``python -m aioca`` has."""
from __future__ import annotations

import argparse

from . import __version__


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="aioca")
    parser.add_argument("-v", "--version", action="version", version=__version__)
    parser.parse_args(argv)


if __name__ == "__main__":
    main()
