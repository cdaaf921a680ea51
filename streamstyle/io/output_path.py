"""Output-path safety: never write over an input, never leave a half-written file at the output path.

Every file output goes through here. It is checked first (:func:`check_output_path`,
:func:`check_sequence_output`): never one of the files the run reads, never a folder, an
existing file only with ``overwrite``. It is then written by :func:`output_file`:
- a regular file is written to a :class:`PartFile` beside it (same folder, so finishing is a
  rename) and published when complete; without ``overwrite`` the publishing never replaces a
  file that appeared at the output path during the run;
- a character device or FIFO (``/dev/null``, a named pipe) is written into directly
  (:class:`DirectFile`) and never replaced by a regular file.

A run holds a lock on its ``.part`` file; the next run of the same output deletes the unlocked
ones a killed run left (:func:`sweep_stale_parts`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from streamstyle.errors import InvalidOptionError, OutputConflictError, OutputExistsError, OutputWriteError
from streamstyle.io.location import PRINTF_NUMBER

TEMPORARY_STEM = 64
"""How much of the output's name its temporary file keeps (a legal 255-byte name stays legal)."""
PART_SUFFIX = ".part"
WRITE_ERRORS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EFBIG: "the file is too large for the file system",
    errno.EIO: "input/output error",
}
"""OS errors that mean "this output cannot be written", with the words the message uses."""


@contextlib.contextmanager
def writing(name: str | Path) -> Iterator[None]:
    """OS errors of writing the output ``name`` (disk full, read-only, permission) as :class:`OutputWriteError`."""
    try:
        yield
    except OSError as exc:
        raise write_error(exc, name) or exc from None


def write_error(exc: OSError, name: str | Path) -> OutputWriteError | None:
    """Our error for an OS error raised while writing the output ``name``; ``None`` if it is not one of those."""
    reason = WRITE_ERRORS.get(exc.errno or 0)
    return OutputWriteError(f"cannot write {name}: {reason}") if reason is not None else None


def check_output_path(output: Path, *, reads: Sequence[Path] = (), overwrite: bool = False) -> None:
    """Refuse an output that is a file the run reads, a folder, or an existing file without ``overwrite``.

    Args:
        output: the output file.
        reads: every local file the run reads (its input, a mask, ...).
        overwrite: an existing regular file may be replaced.

    Raises:
        OutputConflictError: ``output`` is one of ``reads``, a folder, a block device or a socket.
        OutputExistsError: ``output`` is an existing file and ``overwrite`` is false.
        InvalidOptionError: the output's folder does not exist.
    """
    for read in reads:
        if _same_file(output, read):
            raise OutputConflictError(f"output is an input of this run: {output}; choose another -o")
    if output.is_dir():
        raise OutputConflictError(f"output is a folder: {output}; give a file name (or out/%05d.png)")
    if output.exists() and not _is_regular(output) and not _is_device(output):
        raise OutputConflictError(f"output is neither a file, a character device nor a FIFO: {output}")
    if _is_regular(output) and not overwrite:
        raise OutputExistsError(f"output exists: {output} (use -y/--overwrite to replace it)")
    if not output.parent.is_dir():
        raise InvalidOptionError(f"output folder does not exist: {output.parent}")


def check_sequence_output(pattern: str, *, reads: Sequence[Path] = (), overwrite: bool = False) -> None:
    """Refuse an image-sequence output whose numbered files could be any file the run reads.

    Raises:
        OutputConflictError: a file of ``reads`` matches ``pattern`` (e.g. ``IN/%05d.png`` onto itself).
        OutputExistsError: a file of the sequence exists and ``overwrite`` is false.
        InvalidOptionError: the output's folder does not exist.
    """
    first = Path(pattern % 1)
    if not first.parent.is_dir():
        raise InvalidOptionError(f"output folder does not exist: {first.parent}")
    matches = sequence_matcher(pattern)
    folder = first.parent.resolve()
    for read in reads:
        if read.parent.resolve() == folder and matches(read.name):
            raise OutputConflictError(f"output sequence {pattern} would write over {read}, an input of this run")
    existing = sorted(entry.name for entry in os.scandir(folder) if matches(entry.name))
    if existing and not overwrite:
        raise OutputExistsError(
            f"output exists: {first.parent / existing[0]} and {len(existing) - 1} more of the sequence"
            " (use -y/--overwrite to replace them)"
        )


def sequence_matcher(pattern: str) -> Callable[[str], bool]:
    """Whether a file name is one of an image-sequence pattern's numbered names (``%05d`` matches any number)."""
    parts = PRINTF_NUMBER.split(Path(pattern).name)
    regex = re.compile(r"\d+".join(re.escape(part) for part in parts))
    return lambda name: regex.fullmatch(name) is not None


class PartFile:
    """A locked temporary file beside ``final``, published onto it when the write is complete.

    Stale ``.part`` files of the same output (left by a killed run) are deleted first, unless
    ``sweep`` is false.

    Raises:
        OutputWriteError: the folder cannot be written (permission, read-only, full).
    """

    def __init__(self, final: Path, *, sweep: bool = True) -> None:
        self.final = final
        if sweep:
            sweep_stale_parts(final.parent, lambda stem: stem == _stem(final.name))
        with writing(final):
            descriptor, name = tempfile.mkstemp(dir=final.parent, prefix=f".{_stem(final.name)}.", suffix=PART_SUFFIX)
        fcntl.flock(descriptor, fcntl.LOCK_EX)  # held until published or discarded: not stale
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(descriptor, 0o666 & ~umask)
        self._descriptor: int | None = descriptor
        self.path = Path(name)

    def publish(self, *, overwrite: bool) -> None:
        """Move the finished file onto ``final``; replace a file there only if ``overwrite``.

        Raises:
            OutputExistsError: without ``overwrite``, a file appeared at ``final`` during the run;
                the result is kept beside it under a free name, which the message gives.
            OutputConflictError: something other than a file appeared at ``final``; the result is
                kept likewise.
        """
        try:
            if overwrite and (not os.path.lexists(self.final) or _is_regular(self.final)):
                os.replace(self.path, self.final)
                return
            if overwrite:
                kept = _link_to_free_name(self.path, self.final)
                raise OutputConflictError(f"{self.final} stopped being a file during the run; the result is {kept}")
            try:
                _link_no_replace(self.path, self.final)
            except FileExistsError:
                kept = _link_to_free_name(self.path, self.final)
                raise OutputExistsError(
                    f"{self.final} appeared during the run and was left alone; the result is {kept}"
                ) from None
        finally:
            self.discard()

    def discard(self) -> None:
        """Delete the temporary file (if still there) and release its lock."""
        self.path.unlink(missing_ok=True)
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None


class DirectFile:
    """A character device or FIFO, written into as it is: nothing to publish or delete."""

    def __init__(self, final: Path) -> None:
        self.final = self.path = final

    def publish(self, *, overwrite: bool) -> None:
        """Nothing to move: the frames went straight into the device."""

    def discard(self) -> None:
        """Nothing to delete: a device is never removed."""


def output_file(final: Path) -> PartFile | DirectFile:
    """Where to write the output ``final``: straight into a device or FIFO, else a :class:`PartFile`."""
    return DirectFile(final) if _is_device(final) else PartFile(final)


def sweep_stale_parts(folder: Path, output_stem: Callable[[str], bool]) -> None:
    """Delete the ``.part`` files in ``folder`` that a killed run left for an output whose name ``output_stem`` accepts.

    A file is stale when no process holds its lock; files that cannot be opened are left alone.
    """
    try:
        candidates = [entry for entry in os.scandir(folder) if entry.name.endswith(PART_SUFFIX)]
    except OSError:
        return
    for entry in candidates:
        stem = entry.name[1:].removesuffix(PART_SUFFIX).rpartition(".")[0]
        if not entry.name.startswith(".") or not output_stem(stem) or not entry.is_file(follow_symlinks=False):
            continue
        try:
            descriptor = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.unlink(entry.path)
        except OSError:
            pass  # locked: a run is writing it
        finally:
            os.close(descriptor)


def _stem(name: str) -> str:
    return name[:TEMPORARY_STEM]


def _link_no_replace(source: Path, target: Path) -> None:
    """Give ``source`` the name ``target`` unless ``target`` exists (atomic where hard links exist).

    Raises:
        FileExistsError: ``target`` exists.
    """
    try:
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise write_error(exc, target) or exc from None
        if os.path.lexists(target):  # a file system without hard links: check, then rename
            raise FileExistsError(errno.EEXIST, "exists", str(target)) from None
        os.rename(source, target)


def _link_to_free_name(source: Path, final: Path) -> Path:
    """Give ``source`` the first free name ``STEM.N.SUFFIX`` beside ``final``, and return it."""
    for number in range(1, 10_000):
        candidate = final.with_name(f"{final.stem}.{number}{final.suffix}")
        try:
            _link_no_replace(source, candidate)
            return candidate
        except FileExistsError:
            continue
    raise OutputExistsError(f"no free name beside {final} for the result")


def _same_file(output: Path, read: Path) -> bool:
    if output.resolve() == read.resolve():
        return True
    return output.exists() and read.exists() and output.samefile(read)


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _is_device(path: Path) -> bool:
    """A character device or FIFO: written into, never replaced."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)
