"""``python -m basicsr_ext.test -opt FILE``: the same as ``basicsr test -opt FILE``."""

import sys

from basicsr_ext.cli import main

if __name__ == "__main__":
    sys.exit(main(["test", *sys.argv[1:]]))
