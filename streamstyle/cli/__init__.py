"""The ``streamstyle`` command: a thin layer over the public API, one module per group of commands.

Only this package prints or exits; :mod:`streamstyle.cli.app` maps errors to exit codes. The
package itself imports nothing heavy, so that Ctrl-C while the command loads is handled too.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Any

__all__ = ["console", "main"]

EXIT_INTERRUPTED = 130


def console() -> None:
    """The console script: :func:`main`; SIGTERM acts as Ctrl-C, also while the command loads."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        from streamstyle.cli.app import main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    main()


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def __getattr__(name: str) -> Any:
    if name == "main":
        from streamstyle.cli.app import main

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
