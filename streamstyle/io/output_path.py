"""Output-path safety: never write over an input, never leave a half-written file at the output path."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from streamstyle.errors import InvalidOptionError, OutputConflictError, OutputExistsError
from streamstyle.io.location import locate

TEMPORARY_STEM = 64
"""How much of the output's name its temporary file keeps."""


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
    if output.is_dir():
        raise OutputConflictError(f"output is a folder: {output}; give a file name (or out/%05d.png)")
    if output.exists() and not overwrite:
        raise OutputExistsError(f"output exists: {output} (use -y/--overwrite to replace it)")
    if not output.parent.is_dir():
        raise InvalidOptionError(f"output folder does not exist: {output.parent}")


def temporary_path(final: Path) -> Path:
    """A fresh file next to ``final`` that is renamed onto it when the write completes."""
    # short, so that a legal 255-byte output name does not make an illegal temporary one
    fd, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name[:TEMPORARY_STEM]}.", suffix=".part")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)
    return Path(name)
