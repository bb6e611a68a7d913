"""``python -m bayesphys`` runs the command line."""

import sys

from bayesphys.cli import main

sys.exit(main())
