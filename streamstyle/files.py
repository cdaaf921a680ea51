"""File-to-file stylisation: the job behind ``streamstyle INPUT --style NAME``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlparse

from streamstyle.errors import InvalidOptionError
from streamstyle.graph import build_graph
from streamstyle.pipeline import DeviceName, Pipeline, RunSummary
from streamstyle.sinks import check_output_path, open_sink
from streamstyle.sources import IMAGE_SUFFIXES, open_source
from streamstyle.stages import Stage, Stylize


def default_output_path(input: str | Path, stages: Sequence[Stage]) -> Path:
    """``<input stem>.<style>.mp4`` next to the input (``.<ext>`` kept for still images).

    For a URL the name comes from the last part of its path, in the current folder.
    """
    text = str(input)
    path = Path(urlparse(text).path).name if "://" in text else None
    source = Path(path or "stream") if path is not None else Path(text)
    styles = [stage.style for stage in stages if isinstance(stage, Stylize)]
    tag = Path(styles[-1]).name if styles else "styled"
    suffix = source.suffix.lower() if source.suffix.lower() in IMAGE_SUFFIXES else ".mp4"
    return source.with_name(f"{source.stem}.{tag}{suffix}")


def stylize_file(
    input: str | Path,
    output: str | Path | None = None,
    *,
    style: str | None = None,
    strength: float = 1.0,
    preserve_color: bool = False,
    scale: float = 1.0,
    graph: str | None = None,
    batch_size: int = 4,
    device: DeviceName | str = "auto",
    codec: str | None = None,
    crf: int = 18,
    preset: str = "medium",
    overwrite: bool = False,
    on_frames: Callable[[int], None] | None = None,
    on_start: Callable[[Path, int], None] | None = None,
) -> RunSummary:
    """Stylise a video (keeping its audio, timing and size) or a still image.

    Give either ``style`` (with ``strength``, ``preserve_color``, ``scale``) or a ``graph``
    string such as ``"stylize=starry:strength=0.8"``.

    Args:
        input: file path or URL.
        output: output path; default :func:`default_output_path`.
        on_frames: called with the number of frames written after each batch.
        on_start: called once with the output path and the expected frame count (0 if unknown).

    Returns:
        The run's summary; ``interrupted`` is set when Ctrl-C stopped it (the output then
        holds the frames done so far and is playable).

    Raises:
        StreamStyleError: a subclass for each kind of bad input (see :mod:`streamstyle.errors`).
    """
    stages = _stages(style=style, strength=strength, preserve_color=preserve_color, scale=scale, graph=graph)
    if output is not None:
        check_output_path(Path(output), input=input, overwrite=overwrite)
    with open_source(input) as source:
        target = Path(output) if output is not None else default_output_path(input, stages)
        width, height = source.info.width, source.info.height
        for stage in stages:
            width, height = stage.output_size(width, height)
        info = dataclasses.replace(source.info, width=width, height=height)
        sink = open_sink(
            target, info, source.side_streams, input=input, overwrite=overwrite, codec=codec, crf=crf, preset=preset
        )
        if on_start is not None:
            on_start(target, source.info.frame_count)
        try:
            pipeline = Pipeline(source, stages, sink, batch_size=batch_size, device=device, on_frames=on_frames)
        except BaseException:
            sink.close(keep=False)
            raise
        with pipeline:
            return pipeline.run()


def _stages(
    *, style: str | None, strength: float, preserve_color: bool, scale: float, graph: str | None
) -> list[Stage]:
    if graph is not None:
        if style is not None or strength != 1.0 or preserve_color or scale != 1.0:
            raise InvalidOptionError("give either --style (with its options) or --graph, not both")
        return build_graph(graph)
    if style is None:
        raise InvalidOptionError("no style given: use --style NAME (see `streamstyle filters`) or --graph")
    return [Stylize(style, strength=strength, preserve_color=preserve_color, scale=scale)]
