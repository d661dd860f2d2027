"""`python -m gitserver` runs the cedarbox command line."""

import sys

from gitserver.cli import main

sys.exit(main())
