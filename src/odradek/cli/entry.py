"""The console script's entry point.

kio imports hypothesis (a test library) whenever it is installed, which costs a third of the
broker's start-up; the command never needs it, so it is kept out before anything imports kio.
In-process users of :mod:`odradek.cli.main` (tests) are not affected.
"""

from __future__ import annotations

import sys


def main() -> int:
    sys.modules.setdefault("hypothesis", None)  # type: ignore[arg-type]
    from .main import main as real_main

    return real_main()
