"""Ctrl-C and SIGTERM held back at moments where an exception would do harm.

A ``KeyboardInterrupt`` raised inside a queue operation shared with other threads can lose a
wake-up and hang them; one raised inside PyTorch's start-up is partly swallowed and leaves
half-imported modules behind. Code that must not be interrupted runs in :func:`interrupts_held`, which
records the signals, and hands them on with :func:`deliver_interrupts` once that is safe.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

INTERRUPTS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def interrupts_held() -> Iterator[list[int]]:
    """Record SIGINT/SIGTERM instead of handling them; yields the list of those that came.

    Only the main thread handles signals, so elsewhere this does nothing. Signals that are
    ignored, or handled outside Python, are left as they are.
    """
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    numbers = [n for n in INTERRUPTS if signal.getsignal(n) not in (signal.SIG_IGN, None)]
    previous = {number: signal.signal(number, lambda n, _: caught.append(n)) for number in numbers}
    try:
        yield caught
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def deliver_interrupts(caught: list[int]) -> None:
    """Hand signals held back to their own handlers (for Ctrl-C: raise ``KeyboardInterrupt`` here)."""
    for number in caught:
        signal.raise_signal(number)
