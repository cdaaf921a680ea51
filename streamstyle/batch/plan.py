"""Which outputs a batch writes: inputs (files, folders, globs) to one output each under OUT_DIR.

A folder or glob keeps its layout below it (``clips/a/b.mp4`` -> ``OUT/a/b.starry.mp4``); a file
given by name lands at the top of OUT_DIR. Outputs are named as the one-file command names them.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from streamstyle.errors import InputNotFoundError, InvalidOptionError
from streamstyle.files import ComputeOptions, OutputOptions
from streamstyle.io.media import IMAGE_SUFFIXES, VIDEO_SUFFIXES

MEDIA_SUFFIXES = VIDEO_SUFFIXES | IMAGE_SUFFIXES
_WILDCARD = re.compile(r"[*?[]")


@dataclass(frozen=True)
class BatchSettings:
    """What every job of a batch shares (plain data, so it travels to cluster workers).

    Attributes:
        graph: the stages as a graph string (see :func:`~streamstyle.graph.format_graph`).
        stability: as ``stylize_file``'s.
        sink, compute: how outputs are written and the stages run; ``sink.overwrite`` redoes
            outputs that exist.
    """

    graph: str
    stability: float = 0.0
    sink: OutputOptions = field(default_factory=OutputOptions)
    compute: ComputeOptions = field(default_factory=ComputeOptions)


@dataclass(frozen=True)
class Job:
    """One input and its output, both absolute (on a cluster, paths every node sees)."""

    input: Path
    output: Path


def plan_jobs(inputs: Sequence[str | Path], out_dir: str | Path, name: Callable[[Path], str]) -> list[Job]:
    """One job per media file of ``inputs``, its output ``out_dir / <layout> / name(input)``.

    Folders are searched recursively for video and image files (by their ending); a glob
    (``clips/**/*.mov``) takes what it matches. Anything under ``out_dir`` is never an input.

    Raises:
        InputNotFoundError: an input that does not exist or a glob that matches nothing.
        InvalidOptionError: ``out_dir`` is an input folder, or two inputs would share an output.
    """
    out = Path(out_dir).absolute()
    jobs: dict[Path, Path] = {}
    for given in inputs:
        for file, relative in _media_files(str(given), out):
            output = out / relative.parent / name(file)
            if output in jobs and jobs[output] != file:
                raise InvalidOptionError(f"{jobs[output]} and {file} would both be written to {output}")
            jobs[output] = file
    return [Job(file, output) for output, file in jobs.items()]


def _media_files(given: str, out: Path) -> list[tuple[Path, Path]]:
    """The files ``given`` names, each with its path relative to where the layout starts."""
    path = Path(given)
    if path.is_dir():
        root = path.absolute()
        if root == out or root.is_relative_to(out):
            raise InvalidOptionError(f"the output folder {out} cannot be an input folder too")
        files = [Path(d) / f for d, _, names in os.walk(root) for f in names]
    elif _WILDCARD.search(given):
        root = Path(_glob_root(given)).absolute()
        files = [Path(match).absolute() for match in glob.glob(given, recursive=True) if Path(match).is_file()]
        if not files:
            raise InputNotFoundError(f"no file matches {given}")
    elif path.is_file():
        return [(path.absolute(), Path(path.name))]
    else:
        raise InputNotFoundError(f"no such file or folder: {given}")
    media = [f for f in sorted(files) if f.suffix.lower() in MEDIA_SUFFIXES and not f.is_relative_to(out)]
    return [(f, f.relative_to(root)) for f in media]


def _glob_root(pattern: str) -> str:
    """The folders of ``pattern`` before its first wildcard (``clips/day1`` of ``clips/day1/*/*.mp4``)."""
    parts = Path(pattern).parts
    fixed = parts[: next(i for i, part in enumerate(parts) if _WILDCARD.search(part))]
    return str(Path(*fixed)) if fixed else "."
