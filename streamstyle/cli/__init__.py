"""The ``streamstyle`` command: a thin layer over the public API, one module per group of commands.

Only this package prints or exits; :mod:`streamstyle.cli.app` maps errors to exit codes. The
package itself imports nothing heavy, so that Ctrl-C while the command loads is handled too.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType
from typing import Any

from streamstyle.heap import keep_freed_memory
from streamstyle.interrupts import INTERRUPTS

__all__ = ["console", "main"]

EXIT_INTERRUPTED = 130


def console() -> None:
    """The console script: :func:`main`; SIGTERM acts as Ctrl-C, also while the command loads; freed memory is kept.

    Only the first interrupt counts: it stops the job, which then finishes its output; further
    ones are ignored (signals ignored by the caller, as for background jobs, stay ignored).
    """
    for number in INTERRUPTS:
        if signal.getsignal(number) is not signal.SIG_IGN:
            signal.signal(number, _interrupt_once)
    keep_freed_memory()  # the command owns its process: frames reuse freed memory (streamstyle.heap)
    try:
        from streamstyle.cli.app import main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    try:
        main()
    except SystemExit as done:
        _leave_without_waiting_for_compiles(done.code)
        raise
    _leave_without_waiting_for_compiles(0)


def _leave_without_waiting_for_compiles(code: object) -> None:
    """Exit now if a live run left a compile running in the background (:mod:`~streamstyle.compile_thread`).

    Its outputs are closed by now; Python's exit would wait for a compile nobody will use (up to a minute).
    """
    compile_thread = sys.modules.get("streamstyle.compile_thread")
    if compile_thread is not None and compile_thread.compiles_running():
        if isinstance(code, str):
            sys.stderr.write(code + "\n")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else 0 if code is None else 1)


def _interrupt_once(signum: int, frame: FrameType | None) -> None:
    for number in INTERRUPTS:
        signal.signal(number, signal.SIG_IGN)
    raise KeyboardInterrupt


def __getattr__(name: str) -> Any:
    if name == "main":
        from streamstyle.cli.app import main

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
