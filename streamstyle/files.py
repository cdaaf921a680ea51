"""File-to-file stylisation: the job behind ``streamstyle INPUT --style NAME``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from streamstyle.errors import InvalidOptionError
from streamstyle.graph import build_graph
from streamstyle.pipeline import DeviceName, Pipeline, RunSummary
from streamstyle.sinks import check_output_path, open_sink
from streamstyle.sources import IMAGE_SUFFIXES, open_source
from streamstyle.stages import MaskFile, Segment, Stabilize, Stage, Stylize


def default_output_path(input: str | Path, stages: Sequence[Stage]) -> Path:
    """``<input stem>.<style>.mp4`` next to the input (``.<ext>`` kept for still images).

    For a URL the name comes from the last part of its path, in the current folder.
    """
    text = str(input)
    path = Path(urlparse(text).path).name if "://" in text else None
    source = Path(path or "stream") if path is not None else Path(text)
    styles = [Path(stage.style).name for stage in stages if isinstance(stage, Stylize)]
    tag = "+".join(styles) or "styled"
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
    region: str = "all",
    background_style: str | None = None,
    mask: str | Path | None = None,
    classes: str = "person",
    segmenter: str = "deeplabv3_mobilenet_v3_large",
    seg_size: int = 520,
    seg_weights: str | Path = "",
    feather: float = 0.0,
    smooth: float = 0.0,
    seg_every: int = 1,
    stability: float = 0.0,
    graph: str | None = None,
    batch_size: int | None = None,
    device: DeviceName | str = "auto",
    codec: str | None = None,
    crf: int = 18,
    preset: str = "medium",
    overwrite: bool = False,
    on_frames: Callable[[int], None] | None = None,
    on_start: Callable[[Path, int], None] | None = None,
) -> RunSummary:
    """Stylise a video (keeping its audio, timing and size) or a still image.

    Give either ``style`` (with its options) or a ``graph`` string such as
    ``"segment=person,stylize=starry:region=background"``.

    Args:
        input: file path or URL.
        style, strength, preserve_color, scale: see :class:`~streamstyle.stages.Stylize`.
        region: ``all``, ``foreground`` or ``background``: where ``style`` goes. A region
            other than ``all`` (or a ``background_style`` or a ``mask``) adds a ``segment``
            stage (``classes``, ``segmenter``, ``seg_size``, ``seg_weights``, ``feather``,
            ``smooth``, ``seg_every``: see :class:`~streamstyle.stages.Segment`).
        background_style: a second filter for the background; ``style`` then takes the foreground.
        mask: a mask video or image (white = foreground) used instead of segmentation.
        stability: 0 stylises each frame alone; up to 1 blends in the previous output along the
            motion (see :class:`~streamstyle.stages.Stabilize`).
        output: output path; default :func:`default_output_path`.
        on_frames: called with the number of frames written after each batch.
        on_start: called once with the output path and the expected frame count (0 if unknown).

    Returns:
        The run's summary; ``interrupted`` is set when Ctrl-C stopped it (the output then
        holds the frames done so far and is playable).

    Raises:
        StreamStyleError: a subclass for each kind of bad input (see :mod:`streamstyle.errors`).
    """
    looks = {"strength": strength, "preserve_color": preserve_color, "scale": scale}
    regions = RegionChoice(
        region=region, background_style=background_style, mask=mask, classes=classes, segmenter=segmenter,
        size=seg_size, weights=seg_weights, feather=feather, smooth=smooth, every=seg_every,
    )  # fmt: skip
    stages = _stages(style, looks, regions, graph)
    if stability:
        if graph is not None:
            raise InvalidOptionError("give --stability or a stabilize stage in --graph, not both")
        stages.append(Stabilize(stability))
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


@dataclass(frozen=True)
class RegionChoice:
    """The command line's region options, turned into a segment/mask stage by :func:`_stages`."""

    region: str = "all"
    background_style: str | None = None
    mask: str | Path | None = None
    classes: str = "person"
    segmenter: str = "deeplabv3_mobilenet_v3_large"
    size: int = 520
    weights: str | Path = ""
    feather: float = 0.0
    smooth: float = 0.0
    every: int = 1

    @property
    def wanted(self) -> bool:
        return self.region != "all" or self.background_style is not None or self.mask is not None

    def masker(self) -> Stage:
        if self.mask is not None:
            return MaskFile(self.mask)
        return Segment(
            self.classes, model=self.segmenter, size=self.size, weights=self.weights,
            feather=self.feather, smooth=self.smooth, every=self.every,
        )  # fmt: skip


def _stages(style: str | None, looks: dict[str, Any], regions: RegionChoice, graph: str | None) -> list[Stage]:
    if graph is not None:
        if style is not None or looks != {"strength": 1.0, "preserve_color": False, "scale": 1.0} or regions.wanted:
            raise InvalidOptionError("give either --style (with its options) or --graph, not both")
        return build_graph(graph)
    if style is None:
        raise InvalidOptionError("no style given: use --style NAME (see `streamstyle filters`) or --graph")
    if not regions.wanted:
        return [Stylize(style, **looks)]
    if regions.background_style is not None:
        if regions.region == "background":
            raise InvalidOptionError("--background-style styles the background: --region must be foreground or all")
        return [
            regions.masker(),
            Stylize(style, region="foreground", **looks),
            Stylize(regions.background_style, region="background", **looks),
        ]
    return [
        regions.masker(),
        Stylize(style, region="foreground" if regions.region == "all" else regions.region, **looks),
    ]
