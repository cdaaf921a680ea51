"""The ``streamstyle`` command: a thin layer over the public API.

Only this module prints or exits. Every :class:`~streamstyle.errors.StreamStyleError` becomes
a one-line message on stderr and its own exit code.
"""

from __future__ import annotations

import logging
import os
import platform
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import av.logging
import click
import torch
from tqdm import tqdm

from streamstyle import __version__
from streamstyle.benchmark import LIGHTEST, SIZES, Figures, run_benchmark
from streamstyle.capture import camera_device
from streamstyle.controls import LiveControls
from streamstyle.device import PRECISIONS, resolve_device, resolve_precision
from streamstyle.errors import InvalidOptionError, StreamStyleError
from streamstyle.export import EXPORT_FORMATS, export_filter
from streamstyle.files import stylize_file
from streamstyle.filters import Filter, find_filter, list_filters
from streamstyle.graph import StageSpec, parse_graph
from streamstyle.models import ARCHITECTURES
from streamstyle.pipeline import STEPS, RunSummary
from streamstyle.segmenters import SEGMENTERS
from streamstyle.stages.stylize import REGIONS, Stylize
from streamstyle.temporal import warping_error
from streamstyle.train.evaluate import evaluate_filter
from streamstyle.train.gatys import gatys_file
from streamstyle.train.losses import CONTENT_LOSSES, LossWeights
from streamstyle.train.optimize import OPTIMIZERS
from streamstyle.train.trainer import StyleCredit, TrainConfig, Trainer

EXIT_INTERRUPTED = 130
CAMERA_SIZE = (1280, 720)
"""What ``streamstyle camera`` asks a camera for unless --size says otherwise."""
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


class StyleParam(click.ParamType):
    """A filter name or folder, resolved (and checked) when the command line is parsed."""

    name = "style"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            find_filter(value)
        except StreamStyleError as exc:
            _fail(exc)
        return str(value)


class GraphParam(click.ParamType):
    """A graph string, parsed (syntax, stage names and option values) at once."""

    name = "graph"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            specs: list[StageSpec] = parse_graph(str(value))
        except StreamStyleError as exc:
            _fail(exc)
        return str(value) if specs else ""


class DefaultCommandGroup(click.Group):
    """A group whose first argument, when not a sub-command, is the input of ``stylize``.

    Usage errors are reported in one line, like every other error.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and (args[0] == "-" or not args[0].startswith("-")):
            args = ["stylize", *args]
        return super().parse_args(ctx, args)

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click.ClickException as exc:
            click.echo(f"error: {exc.format_message()} (see --help)", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            sys.exit(EXIT_INTERRUPTED)
        sys.exit(code if isinstance(code, int) else 0)


def _fail(exc: StreamStyleError) -> Any:
    click.echo(f"error: {exc}", err=True)
    sys.exit(exc.exit_code)


class _EchoHandler(logging.Handler):
    """Shows warnings (ours and FFmpeg's) as ``warning: ...`` lines on stderr, at most ``limit``."""

    def __init__(self, level: int, limit: int = 8) -> None:
        super().__init__(level)
        self.limit, self.count = limit, 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        origin = f"[{record.name.removeprefix('libav.')}] " if record.name.startswith("libav") else ""
        if self.count <= self.limit:
            click.echo(f"warning: {origin}{record.getMessage().strip()}", err=True)
        elif self.count == self.limit + 1:
            click.echo("warning: further warnings of this kind are not shown", err=True)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _parse_size(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    width, _, height = value.lower().partition("x")
    if not (width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
        raise click.BadParameter(f"expected WIDTHxHEIGHT such as 1280x720, got {value!r}")
    return int(width), int(height)


def _parse_option(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        key, equals, setting = value.partition("=")
        if not (key and equals):
            raise click.BadParameter(f"expected KEY=VALUE, got {value!r}")
        pairs.append((key, setting))
    return pairs


def stream_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The input, output and encoding options shared by ``stylize`` and ``camera``."""
    options = [
        click.option("-f", "--format", "output_format", help="Output container (FFmpeg muxer), e.g. mpegts, flv."),
        click.option("--input-format", help="Force the input format (FFmpeg demuxer), e.g. mpegts for stdin."),
        click.option(
            "--input-option", multiple=True, callback=_parse_option, metavar="KEY=VALUE",
            help="FFmpeg input option, repeatable, e.g. rtsp_flags=listen.",
        ),
        click.option("--size", "capture_size", callback=_parse_size, metavar="WxH", help="Camera capture size."),
        click.option(
            "--fps", "capture_rate", type=click.FloatRange(0, min_open=True),
            help="Camera capture rate; frame rate of an image-sequence input (default 25).",
        ),
        click.option(
            "--timeout", type=click.FloatRange(0, min_open=True), default=15.0, show_default=True,
            help="Seconds to wait for a network input to open or deliver.",
        ),
        click.option("--realtime", "-re", is_flag=True, help="Read the input no faster than real time (ffmpeg -re)."),
        click.option(
            "--reconnect", type=click.FloatRange(0), is_flag=False, flag_value=30.0, default=0.0, metavar="[SECONDS]",
            help="When a network input drops or ends, keep reconnecting (with backoff) for up to SECONDS (30).",
        ),
        click.option("--preview", is_flag=True, help="Show the output in a window (keys: n/p style, +/- strength, q)."),
        click.option("--virtual-camera", is_flag=True, help="Send the output to a virtual camera (pyvirtualcam)."),
        click.option("--codec", help="Video encoder (default libx264; libvpx-vp9 for .webm)."),
        click.option("--crf", type=click.IntRange(0, 63), default=18, show_default=True, help="Lower is better."),
        click.option(
            "--preset", type=click.Choice(X264_PRESETS),
            help="Encoder speed preset (x264/x265); default medium for files, veryfast for streams.",
        ),
        click.option("-y", "--overwrite", is_flag=True, help="Replace an existing output file."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


@click.group(cls=DefaultCommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="streamstyle")
def main() -> None:
    """Stylise videos and images with neural style transfer.

    \b
    streamstyle INPUT --style NAME [-o OUTPUT]    stylise a video (audio kept), stream or image
    streamstyle camera [DEVICE] [--style NAME]    live filter: camera to window / stream / virtual camera
    streamstyle filters [show NAME]               list the installed filters
    streamstyle export NAME --format onnx         the filter's network as ONNX / TorchScript
    streamstyle evaluate-video ORIGINAL STYLISED  flicker: temporal warping error
    streamstyle optimize CONTENT STYLE -o OUT     Gatys et al. optimisation (slow quality reference)
    streamstyle train STYLE --data DIR --name N   train a filter (perceptual loss, Johnson et al.)
    streamstyle evaluate NAME --images DIR        content and style loss of a filter, next to Gatys
    streamstyle bench                             frames per second: network, file to file, naive loop
    """
    for name in ("streamstyle", "libav"):
        logger = logging.getLogger(name)
        logger.handlers = [h for h in logger.handlers if not isinstance(h, _EchoHandler)]
        logger.addHandler(_EchoHandler(logging.WARNING))
    signal.signal(signal.SIGTERM, _raise_interrupt)


@main.command()
@click.argument("input", metavar="INPUT")
@click.option("-o", "--output", help="Output: file, out/%05d.png, URL or - (stdout).")
@click.option("-s", "--style", type=StyleParam(), help="Filter name or folder (see `streamstyle filters`).")
@click.option(
    "--strength",
    type=click.FloatRange(0.0, 1.0),
    default=1.0,
    show_default=True,
    help="Blend with the original: 0 = original, 1 = fully stylised.",
)
@click.option("--preserve-color", is_flag=True, help="Keep the input's colours; take luminance from the style.")
@click.option(
    "--scale",
    type=click.FloatRange(0.0, 4.0, min_open=True),
    default=1.0,
    show_default=True,
    help="Processing scale; the output keeps the input size.",
)
@click.option(
    "--tile",
    default="auto",
    show_default=True,
    help="Large frames: auto tiles (or splits the batch) by free memory; off never; N uses N-px tiles (N >= 132).",
)
@click.option(
    "--stability",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Less flicker: 0 = off; 0.5 filters the input along the motion (denoise=0.9) and blends in the "
    "previous output (stabilize=0.3); 1 blends more (stabilize=0.6).",
)
@click.option(
    "--region",
    type=click.Choice(REGIONS),
    default="all",
    show_default=True,
    help="Stylise only the foreground (e.g. people) or only the background.",
)
@click.option("--background-style", type=StyleParam(), help="A second filter for the background.")
@click.option("--mask", type=click.Path(exists=True, dir_okay=False), help="Mask video/image (white = foreground).")
@click.option("--classes", default="person", show_default=True, help="Foreground classes, joined by '+'.")
@click.option(
    "--segmenter",
    type=click.Choice(SEGMENTERS),
    default="deeplabv3_mobilenet_v3_large",
    show_default=True,
    help="Segmentation network (torchvision).",
)
@click.option(
    "--seg-size", type=click.IntRange(64, 4096), default=520, show_default=True, help="Short side the segmenter sees."
)
@click.option("--seg-weights", default="", help="Segmenter weights file (default: torchvision's, via TORCH_HOME).")
@click.option(
    "--feather", type=click.FloatRange(0, 256), default=0.0, show_default=True, help="Soft mask edge, pixels."
)
@click.option(
    "--smooth",
    type=click.FloatRange(0, 0.95),
    default=0.0,
    show_default=True,
    help="Temporal mask smoothing (0 = none).",
)
@click.option(
    "--seg-every", type=click.IntRange(min=1), default=1, show_default=True, help="Segment every N-th frame only."
)
@click.option("-vf", "--graph", type=GraphParam(), help="Stage graph, e.g. 'stylize=starry:strength=0.8'.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Frames per batch (default 1 on CPU, 4 on CUDA).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N].")
@click.option(
    "--precision", type=click.Choice(["auto", *PRECISIONS]), default="auto", show_default=True,
    help="Network arithmetic; auto is fp16 on CUDA, bf16 on a CPU with native bf16 (AVX512-BF16, AMX), else fp32.",
)  # fmt: skip
@stream_options
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def stylize(input: str, output: str | None, quiet: bool, **options: Any) -> None:
    """Stylise INPUT and write OUTPUT.

    \b
    INPUT: a video file, image, URL (rtsp://, udp://, tcp://...?listen=1, srt://, http(s)://),
    camera:0 or /dev/video0, lavfi:testsrc=size=640x360:rate=30, frames/%05d.png, or - (stdin).
    OUTPUT (-o): a file, out/%05d.png, a URL (udp:// tcp:// srt:// as MPEG-TS, rtsp://, rtmp://),
    or - (stdout, MPEG-TS unless -f). Without -o: INPUT_STEM.STYLE.mp4 next to the input
    (images keep their type), or nothing with --preview / --virtual-camera.
    """
    _run(input, output, quiet, options)


@main.command()
@click.argument("camera_input", default="camera:0", metavar="[DEVICE]")
@click.option("-o", "--output", help="Also record or stream: file, URL or - (stdout).")
@click.option(
    "-s", "--style", "styles", type=StyleParam(), multiple=True,
    help="Filter; repeat to switch between several with n/p (default: every installed filter).",
)  # fmt: skip
@click.option("--strength", type=click.FloatRange(0.0, 1.0), default=1.0, show_default=True)
@click.option(
    "--scale", default="auto", show_default=True,
    help="Processing scale, or auto: the largest at which the first filter keeps up with the camera.",
)  # fmt: skip
@click.option("--region", type=click.Choice(REGIONS), default="all", show_default=True, help="Start region.")
@click.option("--segment", is_flag=True, help="Segment people, so r can switch the region (costs time).")
@click.option("--classes", default="person", show_default=True, help="Foreground classes, joined by '+'.")
@click.option("--segmenter", type=click.Choice(SEGMENTERS), default="lraspp_mobilenet_v3_large", show_default=True)
@click.option("--seg-weights", default="", help="Segmenter weights file (default: torchvision's, via TORCH_HOME).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N].")
@stream_options
@click.option("-q", "--quiet", is_flag=True, help="No summary.")
def camera(camera_input: str, output: str | None, styles: tuple[str, ...], quiet: bool, **options: Any) -> None:
    """Live filter: DEVICE (camera:0, /dev/video0, or any live input) to a preview window.

    Keys in the window: n/p next/previous style, r region, +/- strength, q or Esc quit.
    With -o or --virtual-camera the window is only shown when --preview is given.
    """
    try:
        names = list(styles) or [item.name for item in list_filters()]
        if not names:
            raise InvalidOptionError("no filters installed; give --style")
        if options["region"] != "all" and not options["segment"]:
            raise InvalidOptionError("--region needs --segment (a segmenter finds the people)")
        controls = LiveControls(names, strength=options.pop("strength"), region=options.pop("region"))
        controls.regions = options.pop("segment")
        scale = options.pop("scale")
        if camera_device(camera_input) is not None and options["capture_size"] is None:
            options["capture_size"] = CAMERA_SIZE
        if scale != "auto":
            scale = Stylize.check_option("scale", scale)
    except StreamStyleError as exc:
        _fail(exc)
    if output is None and not options["virtual_camera"]:
        options["preview"] = True
    _run(
        camera_input,
        output,
        quiet,
        {**options, "controls": controls, "scale": scale if scale == "auto" else float(scale)},
    )
    if not quiet:
        click.echo(f"processing scale {controls.scale:.2f}", err=True)


def _run(input: str, output: str | None, quiet: bool, options: dict[str, Any]) -> None:
    """Run one job with a progress bar, and report it; shared by ``stylize`` and ``camera``."""
    progress: tqdm | None = None
    show = not quiet and sys.stderr.isatty()
    options["input_options"] = dict(options.pop("input_option", ()))

    def on_start(target: str, total: int) -> None:
        nonlocal progress
        av.logging.set_level(av.logging.ERROR)  # from here on, FFmpeg's diagnostics of damaged input
        if show:
            progress = tqdm(total=total or None, unit="frame", desc=Path(target).name, dynamic_ncols=True)

    def on_frames(count: int) -> None:
        if progress is not None:
            progress.update(count)

    try:
        summary = stylize_file(input, output, on_frames=on_frames, on_start=on_start, **options)
    except StreamStyleError as exc:
        _fail(exc)
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
        click.echo(f"interrupted: the output holds the {summary.frames} frames done so far and plays", err=True)
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


@main.group(invoke_without_command=True)
@click.pass_context
def filters(ctx: click.Context) -> None:
    """List the installed filters (or `show NAME` for one)."""
    if ctx.invoked_subcommand is None:
        try:
            found = list_filters()
        except StreamStyleError as exc:
            _fail(exc)
        for item in found:
            click.echo(f"{item.name:<14} {item.title} ({item.artist}) [{item.architecture}]")
        if not found:
            click.echo("no filters installed", err=True)


@filters.command("show")
@click.argument("name")
def filters_show(name: str) -> None:
    """Show a filter's metadata and verify its weights."""
    try:
        item: Filter = find_filter(name)
        item.verify_checksum()
    except StreamStyleError as exc:
        _fail(exc)
    lines = [
        ("name", item.name),
        ("title", item.title),
        ("artist", f"{item.artist}, {item.year}"),
        ("credit", item.credit),
        ("licence", item.licence),
        ("architecture", item.architecture),
        ("parameters", f"{item.parameters:,}"),
        ("sha256", f"{item.sha256} (verified)"),
        ("recommended size", f"{item.recommended_size} px short side" if item.recommended_size else "-"),
        ("folder", str(item.path)),
    ]
    lines += [(f"recipe.{key}", str(value)) for key, value in item.recipe.items()]
    for key, value in lines:
        click.echo(f"{key:<18} {value}")


@main.command("export")
@click.argument("style", type=StyleParam())
@click.option("--format", "format_", type=click.Choice(EXPORT_FORMATS), default="onnx", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Default NAME.onnx / NAME.pt.")
@click.option("--bank", help="For a StyleBank filter: the style bank to export (default the first).")
@click.option("-y", "--overwrite", is_flag=True, help="Replace an existing output file.")
def export(style: str, format_: str, output: Path | None, bank: str | None, overwrite: bool) -> None:
    """Export the network of filter STYLE (dynamic batch, height and width >= 16).

    The model maps RGB float frames N x 3 x H x W in [0, 255] to the same shape (clamp the output).
    """
    try:
        path = export_filter(style, output, format=format_, bank=bank, overwrite=overwrite)  # type: ignore[arg-type]
    except StreamStyleError as exc:
        _fail(exc)
    click.echo(f"wrote {path}")


@main.command("evaluate-video")
@click.argument("original", metavar="ORIGINAL")
@click.argument("stylised", metavar="STYLISED")
@click.option("--max-frames", type=click.IntRange(min=1), help="Compare only the first N frames.")
def evaluate_video(original: str, stylised: str, max_frames: int | None) -> None:
    """Flicker of STYLISED against ORIGINAL: the warping error (Lai et al. 2018); lower is steadier.

    The floor is the same measure on ORIGINAL itself: what flow errors and noise leave.
    """
    try:
        result = warping_error(original, stylised, max_frames=max_frames)
    except StreamStyleError as exc:
        _fail(exc)
    click.echo(f"warping error  {result.error:.5f}")
    click.echo(f"floor          {result.floor:.5f} (the original against itself)")
    click.echo(f"frame pairs    {result.pairs} ({result.visible:.0%} of pixels visible on average)")


@main.command()
@click.argument("content", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("style_image", metavar="STYLE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--steps", type=click.IntRange(min=1), default=300, show_default=True)
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default="lbfgs", show_default=True)
@click.option(
    "--size",
    type=click.IntRange(min=16),
    default=512,
    show_default=True,
    help="Long side of the content (and style) image, in pixels.",
)
@click.option("--vgg", type=click.Path(dir_okay=False), help="Loss network file (default torchvision's VGG16).")
@click.option("--content-weight", type=float, default=LossWeights.content, show_default=True)
@click.option("--style-weight", type=float, default=LossWeights.style, show_default=True)
@click.option("--tv-weight", type=float, default=LossWeights.tv, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N].")
@click.option("-y", "--overwrite", is_flag=True, help="Replace an existing output file.")
def optimize(content: Path, style_image: Path, output: Path, **options: Any) -> None:
    """Stylise CONTENT like STYLE by optimising the image itself (Gatys et al.)."""
    steps = options["steps"]
    show = sys.stderr.isatty()
    with tqdm(total=steps, unit="step", disable=not show) as progress:
        try:
            gatys_file(content, style_image, output, on_step=lambda step, terms: progress.update(1), **options)
        except StreamStyleError as exc:
            _fail(exc)
    click.echo(f"wrote {output}", err=True)


@main.command()
@click.argument(
    "style_images", metavar="STYLE_IMAGE...", nargs=-1, required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)  # fmt: skip
@click.option(
    "--data",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="Folder of content photos.",
)
@click.option("--name", required=True, help="Filter name (the folder written under --output).")
@click.option(
    "--arch", "architecture", type=click.Choice(sorted(ARCHITECTURES)), default="johnson_in", show_default=True
)
@click.option("--width", type=click.IntRange(min=4), help="johnson_in only: channels of the first layer (32).")
@click.option("--crop", type=click.IntRange(min=32), default=256, show_default=True)
@click.option("--finish-crop", type=click.IntRange(min=32), help="Crop size of the last --finish-iterations steps.")
@click.option("--finish-iterations", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--lr", "learning_rate", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True)
@click.option(
    "--iterations",
    type=click.IntRange(min=1),
    default=40_000,
    show_default=True,
    help="Training steps (per style bank for stylebank).",
)
@click.option(
    "--autoencoder-iterations",
    type=click.IntRange(min=1),
    default=2000,
    show_default=True,
    help="stylebank step 1: steps of the shared autoencoder.",
)
@click.option(
    "--add-style",
    "base_filter",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="stylebank: add banks for the style images to this filter, leaving the rest untouched.",
)
@click.option(
    "--fine-tune",
    "start_filter",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Start from this filter's weights (same --arch) instead of from scratch.",
)
@click.option(
    "--style-size",
    type=click.IntRange(min=32),
    default=512,
    show_default=True,
    help="Long side of the style image, pixels (sets the stroke scale).",
)
@click.option("--content-weight", type=float, default=LossWeights.content, show_default=True)
@click.option("--style-weight", type=float, default=LossWeights.style, show_default=True)
@click.option("--tv-weight", type=float, default=LossWeights.tv, show_default=True)
@click.option("--content-loss", type=click.Choice(CONTENT_LOSSES), default="mse", show_default=True)
@click.option(
    "--style-layer-weights",
    callback=lambda ctx, param, value: _parse_floats(ctx, param, value, 4),
    default=",".join(f"{w:g}" for w in LossWeights.style_layers),
    show_default=True,
    help="Weights of the style layers relu1_2,relu2_2,relu3_x,relu4_x (deeper = larger motifs).",
)
@click.option(
    "--temporal-weight",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Penalise output changes under small input shifts and noise (less flicker); try 0.01.",
)
@click.option("--vgg", type=click.Path(dir_okay=False, path_type=Path), help="Loss network file.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=500, show_default=True)
@click.option("--preview-every", type=click.IntRange(min=1), default=500, show_default=True)
@click.option(
    "--work",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs"),
    show_default=True,
    help="Folder for checkpoints, logs and previews.",
)
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("filters"),
    show_default=True,
    help="Where the filter folder is written.",
)
@click.option("--resume", is_flag=True, help="Continue from the checkpoint in --work.")
@click.option("--device", default="auto", show_default=True)
@click.option(
    "--precision", type=click.Choice(("auto", "fp32", "bf16")), default="auto", show_default=True,
    help="Autocast arithmetic (auto: bf16 on CUDA and on CPUs with AVX512-BF16/AMX).",
)  # fmt: skip
@click.option("--content-set", default="", help="Name of the content photo set, for the metadata.")
@click.option("--title", default="", help="Painting title, for the metadata.")
@click.option("--artist", default="unknown", help="Painter, for the metadata.")
@click.option("--year", type=int, help="Year of the painting.")
@click.option("--credit", default="", help="Credit line of the style image.")
@click.option("--licence", default="unknown", help="Licence of the style image.")
def train(width: int | None, resume: bool, **options: Any) -> None:
    """Train a filter on STYLE_IMAGE with the photos under --data; writes --output/NAME.

    With --arch stylebank, give one or more style images: the shared autoencoder trains first,
    then one bank per style with the shared parts frozen (--add-style extends a filter).
    --fine-tune continues from a trained filter, e.g. with --temporal-weight for less flicker.
    """
    credit = StyleCredit(*(options.pop(key) for key in ("title", "artist", "year", "credit", "licence")))
    loss_keys = ("content_weight", "style_weight", "tv_weight", "content_loss", "style_layer_weights")
    weights = LossWeights(*(options.pop(key) for key in loss_keys))
    arch_options = {"width": width} if width else {}
    start_filter = options.pop("start_filter")
    if start_filter is not None and options["base_filter"] is not None:
        _fail(InvalidOptionError("give --add-style or --fine-tune, not both"))
    options["base_filter"] = options["base_filter"] or start_filter
    options["finish_crop"] = options["finish_crop"] or 0
    try:
        config = TrainConfig(weights=weights, credit=credit, arch_options=arch_options, **options)
        trainer = Trainer(config, resume=resume)
    except StreamStyleError as exc:
        _fail(exc)
    show = sys.stderr.isatty()
    with tqdm(total=trainer.total_steps, initial=trainer.step, unit="step", disable=not show) as progress:

        def on_step(step: int, terms: dict[str, float]) -> None:
            progress.update(1)
            progress.set_postfix(phase=trainer.phase_at(step - 1).name, loss=f"{terms['total']:.4g}")
            if not show and step % 100 == 0:  # a log file gets a line per 100 steps instead of a bar
                seconds = trainer.seconds / max(step, 1)
                click.echo(
                    f"step {step}/{trainer.total_steps} loss {terms['total']:.4g} {seconds:.3f} s/step", err=True
                )

        try:
            folder = trainer.run(on_step)
        except StreamStyleError as exc:
            _fail(exc)
        except KeyboardInterrupt:
            click.echo(f"interrupted at step {trainer.step}; checkpoint saved, continue with --resume", err=True)
            sys.exit(EXIT_INTERRUPTED)
    per_step = trainer.seconds / max(trainer.step, 1)
    click.echo(f"wrote {folder} ({trainer.step} steps, {trainer.seconds:.0f} s, {per_step:.3f} s/step)", err=True)


@main.command()
@click.argument("style", type=StyleParam())
@click.option("--images", type=click.Path(exists=True, file_okay=False), required=True, help="Content images.")
@click.option("--style-image", type=click.Path(exists=True, dir_okay=False), help="Default: the filter's.")
@click.option("--size", type=click.IntRange(min=32), default=512, show_default=True, help="Long side, pixels.")
@click.option("--vgg", type=click.Path(dir_okay=False), help="Loss network file (default torchvision's VGG16).")
@click.option(
    "--gatys-images",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Also optimise this many of the images (Gatys et al.) as the reference.",
)
@click.option("--gatys-steps", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--device", default="auto", show_default=True)
def evaluate(style: str, images: str, **options: Any) -> None:
    """Mean content and style loss of filter STYLE on the images under --images, next to Gatys."""
    with tqdm(unit="image", disable=not sys.stderr.isatty()) as progress:
        try:
            result = evaluate_filter(style, images, on_image=lambda _: progress.update(1), **options)
        except StreamStyleError as exc:
            _fail(exc)
    rows = [("filter " + style, result.filter)] + ([("gatys", result.gatys)] if result.gatys else [])
    click.echo(f"{'':<24} {'images':>6} {'content':>12} {'style':>12}")
    for label, scores in rows:
        click.echo(f"{label:<24} {scores.images:>6} {scores.content:>12.5g} {scores.style:>12.5g}")
    if result.style_ratio is not None:
        click.echo(f"style loss / Gatys style loss: {result.style_ratio:.2f}")


def _parse_floats(ctx: click.Context, param: click.Parameter, value: str, count: int) -> tuple[float, ...]:
    try:
        numbers = tuple(float(item) for item in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r}: give {count} comma-separated numbers") from None
    if len(numbers) != count or min(numbers) < 0:
        raise click.BadParameter(f"{value!r}: give {count} comma-separated numbers >= 0")
    return numbers


def _parse_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    return [item.strip() for item in value.split(",") if item.strip()] if value else None


def _parse_sizes(ctx: click.Context, param: click.Parameter, value: str | None) -> list[tuple[int, int]] | None:
    items = _parse_list(ctx, param, value)
    return [_parse_size(ctx, param, item) for item in items] if items else None  # type: ignore[misc]


@main.command()
@click.option(
    "--networks", callback=_parse_list, default=f"johnson_in,{LIGHTEST}", show_default=True,
    help=f"Comma-separated architectures (of: {', '.join(sorted(ARCHITECTURES))}).",
)  # fmt: skip
@click.option(
    "--sizes", callback=_parse_sizes,
    help="Comma-separated WxH (default all of 640x360 ... 3840x2160 on CUDA, the first two on the CPU).",
)  # fmt: skip
@click.option(
    "--precisions", callback=_parse_list,
    help=f"Comma-separated, of {', '.join(PRECISIONS)} (default fp32,fp16,bf16 on CUDA, fp32,bf16 on the CPU).",
)  # fmt: skip
@click.option(
    "--frames", type=click.IntRange(min=1), help="Frames per measurement (default 300 on CUDA, 10 on the CPU)."
)
@click.option("--rounds", type=click.IntRange(min=1), default=1, show_default=True, help="Median of this many runs.")
@click.option("--model-only", is_flag=True, help="Only the network, no file to file.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Frames per batch (default 1 on CPU, 4 on CUDA).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N].")
def bench(
    networks: list[str],
    sizes: list[tuple[int, int]] | None,
    precisions: list[str] | None,
    frames: int | None,
    model_only: bool,
    device: str,
    **options: Any,
) -> None:
    """Frames per second of the networks alone and file to file, next to the naive per-frame loop.

    \b
    Weights come from an installed filter of each network where there is one (so the PSNR of
    each precision against fp32 means something), else they are random; speed does not depend
    on them. File to file is a generated H.264 clip with AAC audio to H.264 with the audio kept.
    The naive loop (pytorch/examples style: one frame at a time, fp32, numpy <-> tensor on the
    host) runs alternately in the same process. The ms/frame columns are the time each step of
    the engine was busy; the largest sets the pace.
    """
    try:
        target = resolve_device(device)
        cuda = target.type == "cuda"
        sizes = sizes or list(SIZES if cuda else SIZES[:2])
        precisions = precisions or (["fp32", "fp16", "bf16"] if cuda else ["fp32", "bf16"])
        for precision in precisions:
            resolve_precision(precision, target)
        unknown = sorted(set(networks) - set(ARCHITECTURES))
        if unknown:
            raise InvalidOptionError(f"unknown network {unknown[0]!r}; use {', '.join(sorted(ARCHITECTURES))}")
    except StreamStyleError as exc:
        _fail(exc)
    name = _device_name(target)
    click.echo(f"# {name}; torch {torch.__version__}; {torch.get_num_threads()} CPU threads; batch "
               f"{options['batch_size'] or (4 if cuda else 1)}")  # fmt: skip
    steps = " ".join(f"{step:>8}" for step in STEPS)
    click.echo(f"{'network':<14}{'weights':<8}{'size':>10} {'prec':>5} {'model fps':>10} {'PSNR':>7} {'file fps':>9} "
               f"{'naive fps':>10} {'file/naive':>10}  ms/frame:{steps}  slowest")  # fmt: skip
    total = len(networks) * len(sizes) * len(precisions)
    with tqdm(total=total, unit="line", disable=not sys.stderr.isatty(), dynamic_ncols=True) as progress:
        try:
            for figures in run_benchmark(
                networks=networks, sizes=sizes, precisions=precisions, frames=frames or (300 if cuda else 10),
                files=not model_only, device=str(target), on_step=progress.set_description, **options,
            ):  # fmt: skip
                progress.update(1)
                progress.write(_bench_line(figures))
        except StreamStyleError as exc:
            _fail(exc)


def _bench_line(row: Figures) -> str:
    def number(value: float | None, width: int) -> str:
        return f"{value:>{width}.2f}" if value is not None else f"{'-':>{width}}"

    busy = " ".join(number(row.busy[step] * 1000 if row.busy else None, 8) for step in STEPS)
    ratio = f"{row.speedup:.2f}x" if row.speedup else "-"
    return (
        f"{row.network:<14}{row.weights:<8}{row.width:>5}x{row.height:<4} {row.precision:>5} "
        f"{number(row.model_fps, 10)} {number(row.psnr, 7)} {number(row.engine_fps, 9)} {number(row.naive_fps, 10)} "
        f"{ratio:>10}           {busy}  {row.bottleneck or '-'}"
    )


def _device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} cores"
