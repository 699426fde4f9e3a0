"""``python -m basicsr_ext.train -opt FILE``: the same as ``basicsr train -opt FILE``."""

import sys

from basicsr_ext.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
