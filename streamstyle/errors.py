"""The error tree of streamstyle.

Every error derives from :class:`StreamStyleError`; each leaf also subclasses the builtin
that fits it, so ``except FileNotFoundError`` keeps working. ``exit_code`` is the process
exit status the command line uses for it; every leaf has its own.
"""

from __future__ import annotations


class StreamStyleError(Exception):
    """Base class of every error streamstyle raises on purpose."""

    exit_code = 1


class InvalidOptionError(StreamStyleError, ValueError):
    """An option value is out of range or options contradict each other."""

    exit_code = 2


class InputNotFoundError(StreamStyleError, FileNotFoundError):
    """The input file does not exist."""

    exit_code = 3


class InvalidMediaError(StreamStyleError, ValueError):
    """The input cannot be opened as media (not a media file, or unreadable)."""

    exit_code = 4


class NoVideoStreamError(StreamStyleError, ValueError):
    """The input opens but holds no video stream (and is not a still image)."""

    exit_code = 5


class OutputConflictError(StreamStyleError, ValueError):
    """The output path is the input path."""

    exit_code = 6


class OutputExistsError(StreamStyleError, FileExistsError):
    """The output path exists and overwriting was not asked for."""

    exit_code = 7


class UnknownStyleError(StreamStyleError, LookupError):
    """No filter has that name; the message lists the known ones."""

    exit_code = 8


class FilterError(StreamStyleError, ValueError):
    """A filter folder is broken: bad metadata, checksum mismatch or weights that do not fit."""

    exit_code = 9


class GraphSyntaxError(StreamStyleError, ValueError):
    """A graph string does not parse; the message shows a caret under the column."""

    exit_code = 10

    def __init__(self, message: str, text: str, column: int) -> None:
        self.text = text
        self.column = column
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.args[0]} at column {self.column + 1}\n  {self.text}\n  {' ' * self.column}^"


class EncoderError(StreamStyleError, RuntimeError):
    """No usable encoder for the output, or the encoder/muxer failed."""

    exit_code = 11


class DecodeError(StreamStyleError, RuntimeError):
    """Nothing at all could be decoded from an input that looked valid."""

    exit_code = 12


class DeviceError(StreamStyleError, RuntimeError):
    """The requested compute device (e.g. CUDA) is not available."""

    exit_code = 13


class WeightsUnavailableError(StreamStyleError, LookupError):
    """Pretrained weights (e.g. torchvision's) are neither cached, downloadable nor given as a file,
    or the given file is not the official one (checksum)."""

    exit_code = 14


class TrainingError(StreamStyleError, RuntimeError):
    """Training cannot go on: the loss became NaN/inf, or a checkpoint does not fit the run."""

    exit_code = 15


class StreamError(StreamStyleError, ConnectionError):
    """A network stream or pipe cannot be opened, connected to or written."""

    exit_code = 16


class BackendUnavailableError(StreamStyleError, RuntimeError):
    """A live output (preview window, virtual camera) or a camera has no working backend here."""

    exit_code = 17


class OutOfMemoryError(StreamStyleError, MemoryError):
    """A frame cannot be processed in the free memory, not even in the smallest tiles."""

    exit_code = 18


class OutputWriteError(StreamStyleError, OSError):
    """The output cannot be written: permission denied, read-only file system, disk full."""

    exit_code = 19


class BatchFailedError(StreamStyleError, RuntimeError):
    """Some inputs of a batch failed (each is reported; the others were done)."""

    exit_code = 20


class PipeClosedError(StreamError, BrokenPipeError):
    """The reader of stdout closed it (``| head``): the command line ends quietly, as other tools do."""

    exit_code = 141
    """128 + SIGPIPE, what a shell reports for ``cat`` or ``yes`` in the same place."""
