"""Run the benchmarks: ``python benchmarks/run.py [--json] [--quick]``.

Prints each kernel's speed-up over its numpy reference twin and the closed-loop real-time
factor on ``nominal`` (same as ``flightsw bench``).
"""

import sys

from hil.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
