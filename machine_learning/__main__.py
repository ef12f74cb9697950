"""``python -m machine_learning``: the command-line interface."""

import sys

from machine_learning.cli import main

if __name__ == "__main__":
    sys.exit(main())
