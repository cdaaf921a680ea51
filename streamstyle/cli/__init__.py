"""The ``streamstyle`` command: a thin layer over the public API, one module per group of commands.

Only this package prints or exits; :mod:`streamstyle.cli.app` maps errors to exit codes.
"""

from streamstyle.cli.app import main

__all__ = ["main"]
