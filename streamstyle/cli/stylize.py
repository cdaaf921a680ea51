"""``streamstyle INPUT`` (the ``stylize`` command) and ``streamstyle camera``: one input to its outputs.

The options of the stages (``--strength``, ``--scale``, ``--seg-size``, ...) are generated from
their ``Param`` tables (:func:`~streamstyle.cli.params.stage_options`), so they read, default
and check exactly as the graph string's do.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import av.logging
import click
from tqdm import tqdm

from streamstyle.cli.app import EXIT_INTERRUPTED
from streamstyle.cli.params import GraphParam, StyleParam, given_stage_options, stage_options, stream_options
from streamstyle.controls import LiveControls
from streamstyle.device import PRECISIONS, resolve_device
from streamstyle.errors import InvalidOptionError
from streamstyle.files import ComputeOptions, InputOptions, OutputOptions, style_stages, stylize_file
from streamstyle.filters import list_filters
from streamstyle.io.location import locate
from streamstyle.pipeline import RunSummary
from streamstyle.stages import Segment, Stage, Stylize

CAMERA_SIZE = (1280, 720)
"""What ``streamstyle camera`` asks a camera for unless --size says otherwise."""
CAMERA_SEGMENTER = "lraspp_mobilenet_v3_large"
"""The camera's segmenter: the lightest of torchvision's."""
SEGMENT_NAMES = {"classes": "--classes", "model": "--segmenter", "size": "--seg-size", "every": "--seg-every",
                 "weights": "--seg-weights"}  # fmt: skip
"""Command-line names of the segment stage's options that are not ``--PARAM`` (``classes`` is its primary)."""


def compute_options(command: Any) -> Any:
    """``--batch-size``, ``--device`` and ``--precision``."""
    options = [
        click.option("--batch-size", type=click.IntRange(min=1), help="Frames per batch (default 1 on CPU, 4 on CUDA)"),
        click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N]."),
        click.option(
            "--precision", type=click.Choice(["auto", *PRECISIONS]), default="auto", show_default=True,
            help="Network arithmetic; auto is fp16 on CUDA, bf16 on a CPU with native bf16 (AVX512-BF16, AMX), "
            "else fp32.",
        ),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def style_options(command: Any) -> Any:
    """``--style`` with the stylize options, ``--stability``, ``--background-style``, segmenter options, ``-vf``."""
    options = [
        click.option("-s", "--style", type=StyleParam(), help="Filter name or folder (see `streamstyle filters`)."),
        stage_options(Stylize),
        click.option(
            "--stability", type=click.FloatRange(0, 1), default=0.0, show_default=True,
            help="Less flicker: 0 = off; 0.5 filters the input along the motion (denoise=0.9) and blends in the "
            "previous output (stabilize=0.3); 1 blends more (stabilize=0.6).",
        ),
        click.option("--background-style", type=StyleParam(), help="A second filter for the background."),
        stage_options(Segment, renames=SEGMENT_NAMES),
        click.option("-vf", "--graph", type=GraphParam(), help="Stage graph, e.g. 'stylize=starry:strength=0.8'."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def chosen_stages(options: dict[str, Any], mask: str | None = None) -> list[Stage] | str:
    """The stages :func:`style_options` ask for (taking them out of ``options``): built, or the graph string.

    Raises:
        InvalidOptionError: both a style and a graph, or neither.
    """
    looks, segment = given_stage_options(options, Stylize), given_stage_options(options, Segment)
    style, graph, background_style = options.pop("style"), options.pop("graph"), options.pop("background_style")
    if graph is not None:
        if style is not None or looks or segment or background_style is not None or mask is not None:
            raise InvalidOptionError("give either --style (with its options) or --graph, not both")
        return str(graph)
    if style is None:
        raise InvalidOptionError("no style given: use --style NAME (see `streamstyle filters`) or --graph")
    return style_stages(style, background_style=background_style, mask=mask, stylize=looks, segment=segment)


@click.command()
@click.argument("input", metavar="INPUT")
@click.option("-o", "--output", help="Output: file, out/%05d.png, URL or - (stdout).")
@style_options
@click.option("--mask", type=click.Path(exists=True, dir_okay=False), help="Mask video/image (white = foreground).")
@compute_options
@stream_options
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def stylize(input: str, output: str | None, mask: str | None, stability: float, quiet: bool, **options: Any) -> None:
    """Stylise INPUT and write OUTPUT.

    \b
    INPUT: a video file, image, URL (rtsp://, udp://, tcp://...?listen=1, srt://, http(s)://),
    camera:0 or /dev/video0, lavfi:testsrc=size=640x360:rate=30, frames/%05d.png, or - (stdin).
    OUTPUT (-o): a file, out/%05d.png, a URL (udp:// tcp:// srt:// as MPEG-TS, rtsp://, rtmp://),
    or - (stdout, MPEG-TS unless -f). Without -o: INPUT_STEM.STYLE.mp4 next to the input
    (images keep their type), or nothing with --preview / --virtual-camera.
    """
    stages = chosen_stages(options, mask)
    _run(input, output, quiet, options, stages=stages, stability=stability)


@click.command()
@click.argument("camera_input", default="camera:0", metavar="[DEVICE]")
@click.option("-o", "--output", help="Also record or stream: file, URL or - (stdout).")
@click.option(
    "-s", "--style", "styles", type=StyleParam(), multiple=True,
    help="Filter; repeat to switch between several with n/p (default: every installed filter; on a CPU the "
    "light ones, those fast enough live, if any are installed).",
)  # fmt: skip
@stage_options(Stylize, only=("strength", "region", "compile"))
@click.option(
    "--scale", default="auto", show_default=True,
    help="Processing scale, or auto: the largest at which the first filter keeps up with the camera (a larger "
    "one once compiled).",
)  # fmt: skip
@click.option("--segment", is_flag=True, help="Segment people, so r can switch the region (costs time).")
@stage_options(
    Segment, renames=SEGMENT_NAMES, only=("classes", "model", "weights"), defaults={"model": CAMERA_SEGMENTER}
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N].")
@stream_options
@click.option("-q", "--quiet", is_flag=True, help="No summary.")
def camera(
    camera_input: str, output: str | None, styles: tuple[str, ...], scale: str, segment: bool, quiet: bool,
    **options: Any,
) -> None:  # fmt: skip
    """Live filter: DEVICE (camera:0, /dev/video0, or any live input) to a preview window.

    Keys in the window: n/p next/previous style, r region, +/- strength, q or Esc quit.
    With -o or --virtual-camera the window is only shown when --preview is given.
    """
    looks = {"strength": 1.0, "region": "all", "compile": "auto"} | given_stage_options(options, Stylize)
    segmenter = {"model": CAMERA_SEGMENTER} | given_stage_options(options, Segment)
    names = list(styles) or camera_styles(options["device"])
    if not names:
        raise InvalidOptionError("no filters installed; give --style")
    if looks["region"] != "all" and not segment:
        raise InvalidOptionError("--region needs --segment (a segmenter finds the people)")
    controls = LiveControls(
        names, strength=looks["strength"], region=looks["region"], regions=segment, compile=looks["compile"]
    )
    if scale == "auto":
        controls.fit_scale = True
    else:
        controls.scale = Stylize.check_option("scale", scale)
    if locate(camera_input).kind == "camera" and options["capture_size"] is None:
        options["capture_size"] = CAMERA_SIZE
    if output is None and not options["virtual_camera"]:
        options["preview"] = True
    if not quiet:
        click.echo(f"styles: {', '.join(names)}" + ("" if styles else " (-s NAME for others)"), err=True)
    _run(camera_input, output, quiet, options, stages=[Segment(**segmenter)] if segment else None, controls=controls)
    if not quiet:
        compiled = "" if controls.compiled_scale is None else f", {controls.compiled_scale:.2f} once compiled"
        click.echo(f"processing scale {controls.scale:.2f}{compiled}", err=True)


def camera_styles(device: str) -> list[str]:
    """The camera's styles when none is given: every installed filter, or on a CPU the light ones if any."""
    found = list_filters()
    if resolve_device(device).type == "cpu" and any(item.light for item in found):
        return [item.name for item in found if item.light]
    return [item.name for item in found]


def _run(input: str, output: str | None, quiet: bool, options: dict[str, Any], **job: Any) -> None:
    """Run one job with a progress bar, and report it; shared by ``stylize`` and ``camera``."""
    progress: tqdm | None = None
    show = not quiet and sys.stderr.isatty()
    source = InputOptions(
        format=options["input_format"], options=dict(options["input_option"]), size=options["capture_size"],
        rate=options["capture_rate"], timeout=options["timeout"], realtime=options["realtime"],
        reconnect=options["reconnect"],
    )  # fmt: skip
    sink = OutputOptions(
        format=options["output_format"], codec=options["codec"], crf=options["crf"], preset=options["preset"],
        overwrite=options["overwrite"], preview=options["preview"], virtual_camera=options["virtual_camera"],
    )  # fmt: skip
    compute = ComputeOptions(
        batch_size=options.get("batch_size"), device=options["device"], precision=options.get("precision", "auto")
    )

    def on_start(target: str, total: int) -> None:
        nonlocal progress
        av.logging.set_level(av.logging.ERROR)  # from here on, FFmpeg's diagnostics of damaged input
        if show:
            progress = tqdm(total=total or None, unit="frame", desc=Path(target).name, dynamic_ncols=True)

    def on_frames(count: int) -> None:
        if progress is not None:
            progress.update(count)

    try:
        summary = stylize_file(
            input, output, source=source, sink=sink, compute=compute, on_frames=on_frames, on_start=on_start, **job
        )
    except KeyboardInterrupt:
        click.echo("interrupted before any frame was written; no output", err=True)
        sys.exit(EXIT_INTERRUPTED)
    finally:
        av.logging.set_level(None)
        if progress is not None:
            progress.close()
    _report(summary, quiet)


def _report(summary: RunSummary, quiet: bool) -> None:
    if summary.corrupt_packets:
        click.echo(f"warning: skipped {summary.corrupt_packets} corrupt packet(s) of the input", err=True)
    if summary.interrupted:
        if summary.frames:
            click.echo(f"interrupted: the output holds the {summary.frames} frames done so far and plays", err=True)
        else:
            click.echo("interrupted before any frame was written; no output", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if not quiet:
        line = f"{summary.frames} frames in {summary.seconds:.1f} s ({summary.fps:.2f} fps)"
        if summary.dropped:
            line += f", {summary.dropped} dropped to keep up"
        latency = f"latency {summary.latency_mean * 1000:.0f} ms mean, {summary.latency_max * 1000:.0f} ms max"
        slowest = summary.bottleneck
        if slowest is not None and summary.frames:
            latency += f"; slowest step {slowest} ({summary.busy[slowest] / summary.frames * 1000:.0f} ms/frame)"
        click.echo(f"{line}; {latency}", err=True)
