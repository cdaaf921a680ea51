"""The process's compile thread: a live run's compiles, one after another, while its frames run eagerly.

Compiling holds the GIL for seconds (tracing) and the CPU for longer (the C++ compiler), so the
thread runs at a lower priority (Linux ``nice``) and shortens Python's switch interval while it
works. At exit, compiles not begun are dropped and the running one is stopped (see
:func:`in_background`).
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import queue
import sys
import threading
from collections.abc import Callable
from contextlib import suppress

log = logging.getLogger(__name__)

COMPILE_NICENESS = 5
"""How much lower than the frames' the background compiles' CPU priority is (Linux ``nice``; inductor's compiler
processes, started from the compile thread, inherit it): a live run's frames keep most of the CPU meanwhile."""
COMPILE_SWITCH_INTERVAL = 0.0005
"""Python's switch interval (seconds) while compiles run in the background, instead of its 5 ms: tracing holds
the GIL, and the frames' thread waits up to one interval for it after each operator that released it. A live
run's eager frames during a compile: 6.0-6.6 fps at 5 ms, 8.9-10.4 at 0.5 ms (starry_light, 512x288, bf16;
alone 40 fps)."""
EXIT_WAIT_SECONDS = 30.0
"""At most this long, exit waits for the compile thread to stop (it stops when it next runs Python code)."""


def in_background(job: Callable[[], None]) -> None:
    """Run ``job`` (a compile) on the process's compile thread, after the jobs given before it.

    The thread is a daemon, but Python 3.11 ends a daemon thread at exit by unwinding its stack, which
    aborts the process when that thread is inside torch's C++ code: so at exit the jobs not begun are
    dropped and the one running is stopped (an exception raised in its thread) and waited for, which
    can take the few seconds until the thread next runs Python code. The command line, which owns its
    process, leaves at once with ``os._exit`` while :func:`compiles_running`. A job that raises is
    logged as a warning.
    """
    global _compile_thread, _unfinished
    with _state:
        if _compile_thread is None:
            _trace_fx_here()
            _compile_thread = threading.Thread(target=_run_jobs, name="streamstyle-compile", daemon=True)
            _compile_thread.start()
            atexit.register(_finish_at_exit)
        _unfinished += 1
    _jobs.put(job)


def compiles_running() -> bool:
    """Whether a compile given to :func:`in_background` is running or waiting."""
    with _state:
        return _unfinished > 0


_jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
_compile_thread: threading.Thread | None = None
_unfinished = 0
_state = threading.Condition()


def _trace_fx_here() -> None:
    """Run in this thread the one plain ``torch.fx`` trace inductor makes, the first time it lowers a graph.

    ``torch.fx`` tracing replaces ``nn.Module.__call__`` for every thread while it runs, and a network called
    meanwhile in another thread fails ("module is not installed as a submodule"): a live run's eager frames
    must not meet it. The trace is cached for the process, so once done here a background compile skips it.
    """
    with suppress(ImportError, AttributeError):
        from torch._inductor.loop_body import InterpreterShim

        InterpreterShim._dummy_gm()


class _Abandoned(BaseException):
    """Raised in the compile thread at exit: the compile it runs is of no more use."""


def _run_jobs() -> None:
    global _unfinished
    if sys.platform == "linux":  # there a thread has a priority of its own
        with suppress(OSError):
            thread = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + COMPILE_NICENESS)
    usual_interval = sys.getswitchinterval()
    while True:
        job = _jobs.get()
        sys.setswitchinterval(COMPILE_SWITCH_INTERVAL)
        try:
            job()
        except _Abandoned:
            return
        except Exception as exc:  # a dead compile thread would leave every later look eager, silently
            log.warning("a background compile failed: %s", exc)
        finally:
            with _state:
                _unfinished -= 1
                if _unfinished == 0:
                    sys.setswitchinterval(usual_interval)
                _state.notify_all()


def _finish_at_exit() -> None:
    """Drop the compiles not begun, stop the one running and wait for its thread (see :func:`in_background`)."""
    global _unfinished
    dropped = 0
    with suppress(queue.Empty):
        while True:
            _jobs.get_nowait()
            dropped += 1
    with _state:
        _unfinished -= dropped
        if _unfinished and _compile_thread is not None and _compile_thread.ident is not None:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(_compile_thread.ident), ctypes.py_object(_Abandoned)
            )
        _state.wait_for(lambda: _unfinished == 0, timeout=EXIT_WAIT_SECONDS)
