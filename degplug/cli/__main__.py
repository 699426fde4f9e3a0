import sys

from degplug.cli.main import main

sys.exit(main())
