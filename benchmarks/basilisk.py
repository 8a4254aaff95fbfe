"""Side by side with Basilisk: ``python benchmarks/basilisk.py [--pairs 5] [--json]``.

The same mission window (``nominal``'s), dynamics alone and a closed loop of comparable
content, both pinned to one CPU and interleaved pair by pair; CPU time and the ratio
(``flightsw bench --basilisk``; needs ``pip install 'flightsw[basilisk]'``).
"""

import sys

from hil.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--basilisk", *sys.argv[1:]]))
