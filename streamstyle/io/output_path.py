"""Output-path safety: never write over an input, never leave a half-written file at the output path."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from streamstyle.errors import InvalidOptionError, OutputConflictError, OutputExistsError
from streamstyle.io.location import locate


def check_output_path(output: Path, *, input: str | Path | None = None, overwrite: bool = False) -> None:
    """Refuse an output that is the input, or that exists when ``overwrite`` is false.

    Raises:
        OutputConflictError: ``output`` is the same file as ``input``.
        OutputExistsError: ``output`` exists and ``overwrite`` is false.
    """
    source = locate(input).path if input is not None else None  # file: URLs name their path
    if source is not None and (
        output.resolve() == source.resolve() or (output.exists() and source.exists() and output.samefile(source))
    ):
        raise OutputConflictError(f"output is the input file: {output}; choose another -o")
    if output.exists() and not overwrite:
        raise OutputExistsError(f"output exists: {output} (use -y/--overwrite to replace it)")
    if not output.parent.is_dir():
        raise InvalidOptionError(f"output folder does not exist: {output.parent}")


def temporary_path(final: Path) -> Path:
    """A fresh file next to ``final`` that is renamed onto it when the write completes."""
    fd, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".part")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)
    return Path(name)
