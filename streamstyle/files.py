"""Stylising one input into its outputs: the job behind ``streamstyle INPUT --style NAME``.

The input is anything :func:`~streamstyle.io.open_source` takes (a file, URL, camera, lavfi
source, image sequence, stdin); the outputs are a file, stream, image sequence or stdout
(:func:`~streamstyle.io.open_sink`), a preview window and/or a virtual camera. What runs in
between is a list of stages: built ones, a graph string, or those :func:`style_stages` builds
from the command line's style options.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from streamstyle.controls import LiveControls, StyleSwitch
from streamstyle.errors import InvalidOptionError
from streamstyle.graph import build_graph
from streamstyle.io import Sink, VideoInfo, open_sink, open_source
from streamstyle.io.location import locate
from streamstyle.io.opening import files_read
from streamstyle.io.output_path import check_output_path, check_sequence_output
from streamstyle.io.reconnect import ReconnectingSource
from streamstyle.io.sinks import TeeSink
from streamstyle.pipeline import Pipeline, RunSummary
from streamstyle.realtime import fit_scale
from streamstyle.stages import MaskFile, Segment, Stage, Stylize
from streamstyle.stages.stabilize import stability_stages


@dataclass(frozen=True)
class InputOptions:
    """How the input is opened (see :func:`~streamstyle.io.open_source`).

    Attributes:
        format, options: FFmpeg input format (demuxer) and its options.
        size, rate: camera capture size and rate; ``rate`` is also an image sequence's frame rate.
        timeout: seconds to wait for a network input to open and deliver.
        realtime: read no faster than real time (ffmpeg's ``-re``).
        reconnect: for a network input, seconds to keep reconnecting after it drops or ends (0: end with it).
    """

    format: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    size: tuple[int, int] | None = None
    rate: float | None = None
    timeout: float = 15.0
    realtime: bool = False
    reconnect: float = 0.0


@dataclass(frozen=True)
class OutputOptions:
    """How the output is written (see :func:`~streamstyle.io.open_sink`), and the live outputs.

    Attributes:
        format, codec, crf, preset: muxer, video encoder and its settings.
        overwrite: replace an existing output file.
        preview: also show the frames in a window (keys: :data:`~streamstyle.controls.KEYS`).
        virtual_camera: also send the frames to a virtual camera (pyvirtualcam).
    """

    format: str | None = None
    codec: str | None = None
    crf: int = 18
    preset: str | None = None
    overwrite: bool = False
    preview: bool = False
    virtual_camera: bool = False


@dataclass(frozen=True)
class ComputeOptions:
    """How the stages run (see :class:`~streamstyle.pipeline.Pipeline`)."""

    batch_size: int | None = None
    device: str = "auto"
    precision: str = "auto"


def default_output_path(input: str | Path, stages: Sequence[Stage]) -> Path:
    """``<input stem>.<style>.mp4`` next to the input (``.<ext>`` kept for still images).

    For a URL the name comes from the last part of its path, in the current folder; other
    inputs that are not files (cameras, lavfi, stdin, image sequences) give ``stream.<style>.mp4``.
    """
    location = locate(input)
    if location.kind == "url":
        source = Path(Path(urlparse(location.target).path).name or "stream")
    elif location.is_local_file:
        source = Path(location.target)
    else:
        source = Path("stream")
    styles = [Path(stage.style).name for stage in stages if isinstance(stage, Stylize)]
    tag = "+".join(styles) or "styled"
    suffix = source.suffix.lower() if location.kind == "image" else ".mp4"
    return source.with_name(f"{source.stem}.{tag}{suffix}")


def style_stages(
    style: str,
    *,
    background_style: str | None = None,
    mask: str | Path | None = None,
    stylize: Mapping[str, Any] | None = None,
    segment: Mapping[str, Any] | None = None,
) -> list[Stage]:
    """The stages of the command line's style options: ``style`` alone, or only in a region.

    Args:
        style: the filter (the foreground's when ``background_style`` is given).
        background_style: a second filter for the background.
        mask: a mask video or image (white = foreground) instead of segmentation.
        stylize: options of :class:`~streamstyle.stages.Stylize` (by its ``Param`` names);
            ``region`` other than ``all`` adds a ``segment`` stage (or the ``mask``).
        segment: options of :class:`~streamstyle.stages.Segment` (by its ``Param`` names).

    Raises:
        InvalidOptionError: contradictory options; StreamStyleError: a filter that does not load.
    """
    looks = dict(stylize or {})
    region = looks.pop("region", "all")
    if background_style is None and mask is None and region == "all":
        if segment:
            raise InvalidOptionError("segmentation options need --region, --background-style or --mask")
        return [Stylize(style, **looks)]
    if mask is not None and segment:
        raise InvalidOptionError("give --mask or segmentation options, not both")
    masker: Stage = MaskFile(mask) if mask is not None else Segment(**dict(segment or {}))
    if background_style is not None:
        if region == "background":
            raise InvalidOptionError("--background-style styles the background: --region must be foreground or all")
        return [
            masker,
            Stylize(style, region="foreground", **looks),
            Stylize(background_style, region="background", **looks),
        ]
    return [masker, Stylize(style, region="foreground" if region == "all" else region, **looks)]


def stylize_file(
    input: str | Path,
    output: str | Path | None = None,
    *,
    style: str | None = None,
    stages: Sequence[Stage] | str | None = None,
    stability: float = 0.0,
    controls: LiveControls | None = None,
    source: InputOptions = InputOptions(),
    sink: OutputOptions = OutputOptions(),
    compute: ComputeOptions = ComputeOptions(),
    on_frames: Callable[[int], None] | None = None,
    on_start: Callable[[str, int], None] | None = None,
) -> RunSummary:
    """Stylise a video, stream, camera or still image (keeping audio, timing and size).

    Give one of: ``style`` (a filter, fully stylised), ``stages`` (built stages, e.g. from
    :func:`style_stages`, or a graph string such as ``"segment=person,stylize=starry:region=background"``),
    or live ``controls`` (their styles are all loaded, and keys of the preview window switch
    between them; ``stages`` then run before the live stylizer, e.g. a ``segment``).

    Args:
        input: file path, URL, camera, ``lavfi:...``, image sequence or ``-``.
        output: file, image sequence, URL or ``-``; default :func:`default_output_path`, or
            none when ``sink.preview`` or ``sink.virtual_camera`` is asked for.
        stability: 0 stylises each frame alone; up to 1 filters the input along the motion
            before the network and blends in the previous output after it (see
            :func:`~streamstyle.stages.stabilize.stability_stages`).
        controls: live settings; with ``controls.fit_scale`` the processing scales are the largest
            at which the first style keeps up with the input, eager and once compiled
            (:func:`~streamstyle.realtime.fit_scale`).
        source, sink, compute: how the input is opened, the outputs written and the stages run.
        on_frames: called with the number of frames written after each batch.
        on_start: called once with the output's name and the expected frame count (0 if unknown).

    Returns:
        The run's summary; ``interrupted`` is set when Ctrl-C stopped it (the output then
        holds the frames done so far and is playable).

    Raises:
        StreamStyleError: a subclass for each kind of bad input (see :mod:`streamstyle.errors`).
    """
    chosen = resolve_stages(style, stages, controls, stability)
    switch = next((stage for stage in chosen if isinstance(stage, StyleSwitch)), None)
    if output is None and not (sink.preview or sink.virtual_camera):
        output = default_output_path(input, chosen)
    reads = [*files_read(input), *(path for stage in chosen for path in stage.reads())]
    target = locate(output) if output is not None else None  # checked before the input opens (open_sink checks too)
    if target is not None and target.kind == "sequence":
        check_sequence_output(target.target, reads=reads, overwrite=sink.overwrite)
    elif target is not None and target.is_local_file:
        check_output_path(Path(target.target), reads=reads, overwrite=sink.overwrite)
    opener = partial(
        open_source, input, format=source.format, options=source.options, size=source.size, rate=source.rate,
        timeout=source.timeout, realtime=source.realtime,
    )  # fmt: skip
    with ReconnectingSource(opener, give_up=source.reconnect) if source.reconnect > 0 else opener() as opened:
        if switch is not None and switch.controls.fit_scale:
            rate = float(opened.info.frame_rate or 30)
            size = opened.info.width, opened.info.height
            eager, compiled = fit_scale(switch.stylizers[0], *size, rate, device=compute.device)
            switch.set_scale(eager, compiled if compiled != eager else None)
        info = output_info(opened.info, chosen)
        pipeline: Pipeline | None = None

        def dropped() -> int:
            return pipeline.summary.dropped if pipeline is not None else 0

        outputs = _open_outputs(output, info, opened, input, reads, sink, controls, dropped)
        if on_start is not None:
            on_start(str(output) if output is not None else "preview", opened.info.frame_count)
        try:
            pipeline = Pipeline(
                opened, chosen, outputs, batch_size=compute.batch_size, device=compute.device,
                precision=compute.precision, on_frames=on_frames,
            )  # fmt: skip
        except BaseException:
            outputs.close(keep=False)
            raise
        if controls is not None:
            controls.on_quit = pipeline.request_stop
        with pipeline:
            return pipeline.run()


def output_info(info: VideoInfo, stages: Sequence[Stage]) -> VideoInfo:
    """The video ``stages`` make of one described by ``info``: its size may change, its timing does not."""
    width, height = info.width, info.height
    for stage in stages:
        width, height = stage.output_size(width, height)
    return dataclasses.replace(info, width=width, height=height)


def resolve_stages(
    style: str | None, stages: Sequence[Stage] | str | None, controls: LiveControls | None, stability: float
) -> list[Stage]:
    """The stages to run, from exactly one of ``style``, ``stages`` or ``controls`` (with ``stages`` before it)."""
    if style is not None and (stages is not None or controls is not None):
        raise InvalidOptionError("give either a style (with its options) or a graph, not both")
    chosen = build_graph(stages) if isinstance(stages, str) else list(stages or [])
    if controls is not None:
        chosen.append(StyleSwitch(controls, scale=controls.scale))
    elif style is not None:
        chosen = [Stylize(style)]
    elif not chosen:
        raise InvalidOptionError("no style given: use --style NAME (see `streamstyle filters`) or --graph")
    if stability:
        if isinstance(stages, str):
            raise InvalidOptionError("give --stability or denoise/stabilize stages in --graph, not both")
        denoise, stabilize = stability_stages(stability)
        chosen = [denoise, *chosen, stabilize]
    return chosen


def _open_outputs(
    output: str | Path | None,
    info: VideoInfo,
    source: Any,
    input: str | Path,
    reads: Sequence[Path],
    options: OutputOptions,
    controls: LiveControls | None,
    dropped: Callable[[], int],
) -> TeeSink:
    """Every asked-for sink in one :class:`TeeSink`; those opened are closed again if a later one fails."""
    from streamstyle.io.preview import PreviewWindow
    from streamstyle.io.virtualcam import VirtualCamera

    sinks: list[Sink] = []
    try:
        if options.preview:
            sinks.append(PreviewWindow(f"streamstyle: {input}", *_window_controls(controls, dropped)))
        if options.virtual_camera:
            sinks.append(VirtualCamera(info.width, info.height, float(info.frame_rate or 30)))
        if output is not None:
            sinks.append(
                open_sink(
                    output,
                    info,
                    source.side_streams,
                    format=options.format,
                    reads=reads,
                    overwrite=options.overwrite,
                    codec=options.codec,
                    crf=options.crf,
                    preset=options.preset,
                )
            )
    except BaseException:
        TeeSink(sinks).close(keep=False)
        raise
    return TeeSink(sinks)


def _window_controls(
    controls: LiveControls | None, dropped: Callable[[], int]
) -> tuple[Callable[[int], None] | None, Callable[[], list[str]]]:
    """What the preview window's keys do, and the overlay lines under its fps figure."""

    def status() -> list[str]:
        return [f"dropped {dropped()}", *(controls.overlay_lines() if controls is not None else [])]

    return (controls.handle_key if controls is not None else None), status
