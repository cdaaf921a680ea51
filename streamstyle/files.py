"""Stylising one input into its outputs: the job behind ``streamstyle INPUT --style NAME``.

The input is anything :func:`~streamstyle.sources.open_source` takes (a file, URL, camera,
lavfi source, image sequence, stdin); the outputs are a file, stream, image sequence or
stdout (:func:`~streamstyle.sinks.open_sink`), a preview window and/or a virtual camera.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from streamstyle.capture import camera_device
from streamstyle.controls import LiveControls, StyleSwitch
from streamstyle.device import DeviceName
from streamstyle.errors import InvalidOptionError
from streamstyle.graph import build_graph
from streamstyle.pipeline import Pipeline, RunSummary
from streamstyle.realtime import fit_scale
from streamstyle.reconnect import ReconnectingSource
from streamstyle.sequences import is_sequence_pattern
from streamstyle.sinks import STDOUT, Sink, TeeSink, check_output_path, open_sink
from streamstyle.sources import IMAGE_SUFFIXES, LAVFI_PREFIX, STDIN, VideoInfo, open_source
from streamstyle.stages import MaskFile, Segment, Stage, Stylize
from streamstyle.stages.stabilize import stability_stages


def default_output_path(input: str | Path, stages: Sequence[Stage]) -> Path:
    """``<input stem>.<style>.mp4`` next to the input (``.<ext>`` kept for still images).

    For a URL the name comes from the last part of its path, in the current folder; other
    inputs that are not files (cameras, lavfi, stdin, image sequences) give ``stream.<style>.mp4``.
    """
    text = str(input)
    path = Path(urlparse(text).path).name if "://" in text else None
    if path is None and (
        text == STDIN or text.startswith(LAVFI_PREFIX) or camera_device(text) or is_sequence_pattern(text)
    ):
        path = ""
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
    scale: float | Literal["auto"] = 1.0,
    tile: int | str = 0,
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
    controls: LiveControls | None = None,
    batch_size: int | None = None,
    device: DeviceName | str = "auto",
    precision: str = "auto",
    input_format: str | None = None,
    input_options: Mapping[str, str] | None = None,
    capture_size: tuple[int, int] | None = None,
    capture_rate: float | None = None,
    timeout: float = 15.0,
    realtime: bool = False,
    reconnect: float = 0.0,
    output_format: str | None = None,
    codec: str | None = None,
    crf: int = 18,
    preset: str | None = None,
    overwrite: bool = False,
    preview: bool = False,
    virtual_camera: bool = False,
    on_frames: Callable[[int], None] | None = None,
    on_start: Callable[[str, int], None] | None = None,
) -> RunSummary:
    """Stylise a video, stream, camera or still image (keeping audio, timing and size).

    Give either ``style`` (with its options), a ``graph`` string such as
    ``"segment=person,stylize=starry:region=background"``, or live ``controls`` (their
    styles are all loaded, and keys of the preview window switch between them).

    Args:
        input: file path or URL.
        style, strength, preserve_color, scale: see :class:`~streamstyle.stages.Stylize`; with
            live ``controls``, ``scale="auto"`` picks the largest at which the first style keeps
            up with the input's frame rate (:func:`~streamstyle.realtime.fit_scale`).
        tile: frames too large for the free memory: ``auto``/0 runs fewer frames at once or
            overlapping tiles with blended seams, ``off``/-1 never, N uses N-pixel tiles.
        region: ``all``, ``foreground`` or ``background``: where ``style`` goes. A region
            other than ``all`` (or a ``background_style`` or a ``mask``) adds a ``segment``
            stage (``classes``, ``segmenter``, ``seg_size``, ``seg_weights``, ``feather``,
            ``smooth``, ``seg_every``: see :class:`~streamstyle.stages.Segment`).
        background_style: a second filter for the background; ``style`` then takes the foreground.
        mask: a mask video or image (white = foreground) used instead of segmentation.
        stability: 0 stylises each frame alone; up to 1 filters the input along the motion
            before the network and blends in the previous output after it (see
            :func:`~streamstyle.stages.stabilize.stability_stages`).
        input_format, input_options, capture_size, capture_rate, timeout, realtime: how the
            input is opened (see :func:`~streamstyle.sources.open_source`).
        reconnect: for a network input, seconds to keep trying to reconnect after the stream
            drops or ends (0: end with it).
        output: file, image sequence, URL or ``-``; default :func:`default_output_path`, or
            none when ``preview`` or ``virtual_camera`` is asked for.
        output_format, codec, crf, preset: how the output is encoded (see :func:`~streamstyle.sinks.open_sink`).
        preview: show the frames in a window (keys: :data:`~streamstyle.controls.KEYS`).
        virtual_camera: send the frames to a virtual camera (pyvirtualcam).
        batch_size, device, precision: how the stages run (see :class:`~streamstyle.pipeline.Pipeline`).
        on_frames: called with the number of frames written after each batch.
        on_start: called once with the output's name and the expected frame count (0 if unknown).

    Returns:
        The run's summary; ``interrupted`` is set when Ctrl-C stopped it (the output then
        holds the frames done so far and is playable).

    Raises:
        StreamStyleError: a subclass for each kind of bad input (see :mod:`streamstyle.errors`).
    """
    looks = {"strength": strength, "preserve_color": preserve_color, "scale": scale, "tile": tile}
    regions = RegionChoice(
        region=region, background_style=background_style, mask=mask, classes=classes, segmenter=segmenter,
        size=seg_size, weights=seg_weights, feather=feather, smooth=smooth, every=seg_every,
    )  # fmt: skip
    switch: StyleSwitch | None = None
    if scale == "auto" and controls is None:
        raise InvalidOptionError("scale auto needs live controls (streamstyle camera)")
    if controls is not None:
        switch = StyleSwitch(controls, scale=1.0 if scale == "auto" else scale)
        stages: list[Stage] = [regions.masker(), switch] if controls.regions else [switch]
    else:
        stages = _stages(style, looks, regions, graph)
    if stability:
        if graph is not None:
            raise InvalidOptionError("give --stability or denoise/stabilize stages in --graph, not both")
        denoise, stabilize = stability_stages(stability)
        stages = [denoise, *stages, stabilize]
    if output is None and not (preview or virtual_camera):
        output = default_output_path(input, stages)
    if output is not None and _is_local_file(output):
        check_output_path(Path(output), input=input, overwrite=overwrite)
    opener = partial(
        open_source, input, format=input_format, options=input_options, size=capture_size, rate=capture_rate,
        timeout=timeout, realtime=realtime,
    )  # fmt: skip
    with ReconnectingSource(opener, give_up=reconnect) if reconnect > 0 else opener() as source:
        width, height = source.info.width, source.info.height
        if switch is not None and scale == "auto":
            rate = float(source.info.frame_rate or 30)
            switch.set_scale(fit_scale(switch.stylizers[0], width, height, rate, device=device))
        for stage in stages:
            width, height = stage.output_size(width, height)
        info = dataclasses.replace(source.info, width=width, height=height)
        encoding = {"format": output_format, "codec": codec, "crf": crf, "preset": preset}
        pipeline: Pipeline | None = None

        def dropped() -> int:
            return pipeline.summary.dropped if pipeline is not None else 0

        windows = {"preview": preview, "virtual_camera": virtual_camera, "controls": controls, "dropped": dropped}
        sink = _open_outputs(output, info, source, input, overwrite, encoding, **windows)
        if on_start is not None:
            on_start(str(output) if output is not None else "preview", source.info.frame_count)
        try:
            pipeline = Pipeline(
                source, stages, sink, batch_size=batch_size, device=device, precision=precision, on_frames=on_frames
            )
        except BaseException:
            sink.close(keep=False)
            raise
        if controls is not None:
            controls.on_quit = pipeline.request_stop
        with pipeline:
            return pipeline.run()


def _is_local_file(output: str | Path) -> bool:
    text = str(output)
    return text != STDOUT and "://" not in text and not is_sequence_pattern(text)


def _open_outputs(
    output: str | Path | None,
    info: VideoInfo,
    source: Any,
    input: str | Path,
    overwrite: bool,
    encoding: dict[str, Any],
    *,
    preview: bool,
    virtual_camera: bool,
    controls: LiveControls | None,
    dropped: Callable[[], int],
) -> TeeSink:
    """Every asked-for sink in one :class:`TeeSink`; those opened are closed again if a later one fails."""
    from streamstyle.preview import PreviewWindow
    from streamstyle.virtualcam import VirtualCamera

    sinks: list[Sink] = []
    try:
        if preview:
            sinks.append(PreviewWindow(f"streamstyle: {input}", controls, dropped))
        if virtual_camera:
            sinks.append(VirtualCamera(info.width, info.height, float(info.frame_rate or 30)))
        if output is not None:
            sinks.append(open_sink(output, info, source.side_streams, input=input, overwrite=overwrite, **encoding))
    except BaseException:
        TeeSink(sinks).close(keep=False)
        raise
    return TeeSink(sinks)


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
        defaults = {"strength": 1.0, "preserve_color": False, "scale": 1.0, "tile": 0}
        if style is not None or looks != defaults or regions.wanted:
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
