"""``python -m kmc_monitor``: the same as the ``kmc-monitor`` command."""

import sys

from kmc_monitor.cli import main

sys.exit(main())
