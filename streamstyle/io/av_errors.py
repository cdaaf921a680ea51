"""PyAV's errors, translated into ours: the one place that knows which FFmpeg error means what."""

from __future__ import annotations

import av
import av.error

from streamstyle.errors import (
    EncoderError,
    InputNotFoundError,
    InvalidMediaError,
    PipeClosedError,
    StreamError,
    StreamStyleError,
)
from streamstyle.io.output_path import write_error

NETWORK_ERRORS = (
    av.error.ExitError,  # PyAV's timeout interrupted FFmpeg
    av.error.TimeoutError,
    av.error.ConnectionRefusedError,
    av.error.ConnectionResetError,
    av.error.ConnectionAbortedError,
    av.error.BrokenPipeError,
)


def error_reason(exc: BaseException) -> str:
    """The human part of an FFmpeg error, without errno and file name noise."""
    strerror = getattr(exc, "strerror", None)
    return strerror or str(exc)


def input_error(exc: BaseException, name: str, *, timeout: float | None = None) -> StreamStyleError:
    """The error of ours for a PyAV error raised while opening the input ``name``."""
    if isinstance(exc, av.error.FileNotFoundError):
        return InputNotFoundError(f"input not found: {name}")
    if isinstance(exc, NETWORK_ERRORS):
        waited = f" (nothing to read within {timeout:g} s?)" if timeout is not None else ""
        return StreamError(f"cannot open {name}: {error_reason(exc)}{waited}")
    return InvalidMediaError(f"not a readable media file: {name} ({error_reason(exc)})")


def output_error(exc: BaseException, name: str, action: str, *, stdout: bool = False) -> StreamStyleError:
    """Our error for a PyAV error raised while ``action`` (``create``, ``write``, ``finish``) the output ``name``.

    A closed stdout (``| head``) becomes :class:`PipeClosedError`, other network errors
    :class:`StreamError` (the receiver is gone or refuses), a full disk, read-only file system
    or denied permission :class:`OutputWriteError`, anything else :class:`EncoderError`.
    """
    if stdout and isinstance(exc, BrokenPipeError):
        return PipeClosedError("the reader of stdout closed it")
    if isinstance(exc, NETWORK_ERRORS):
        verb = "connect to" if action == "create" else "stream to"
        return StreamError(f"cannot {verb} {name}: {error_reason(exc)}")
    if isinstance(exc, OSError) and (written := write_error(exc, name)) is not None:
        return written
    return EncoderError(f"cannot {action} {name}: {error_reason(exc)}")
