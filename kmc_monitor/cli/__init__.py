"""The ``kmc-monitor`` command line.

Bad input never shows a Python traceback: a trace that cannot be read ends the command with exit
status 2 and one plain sentence; invalid readings are counted and warned about on stderr.
``scan``, ``record`` and ``serve --ble`` without a usable Bluetooth adapter end with exit status 1
and one line saying why (no adapter, no BlueZ, powered off), never a traceback either.
``gateway`` and ``serve --mqtt`` with a broker URL they cannot use end with exit status 2 and one
line (never showing the password); a broker that is merely unreachable is retried, not an error.

One module per command, each holding its own arguments (``add_parser``) beside the command
(``run``); :mod:`~kmc_monitor.cli.dispatch` builds the parser from them and runs the one named;
:mod:`~kmc_monitor.cli.common` holds what several commands share.
"""

from kmc_monitor.cli.dispatch import main

__all__ = ["main"]
