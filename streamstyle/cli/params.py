"""Parameter types and option groups shared by the commands (importing this module loads no network code)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import click

from streamstyle.filters import find_filter
from streamstyle.graph import StageSpec, parse_graph
from streamstyle.stages.base import Param, Stage, parse_bool


class FiniteRange(click.FloatRange):
    """A float range that also refuses NaN (click's ranges let it through: every comparison is false)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail("NaN is not a number here", param, ctx)
        return number


MIN_FPS, MAX_FPS = 0.01, 1000.0
"""Frame rates --fps takes: beyond them timestamps under-/overflow the output's time base (and NaN is refused)."""
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


class StyleParam(click.ParamType):
    """A filter name or folder, resolved (and checked) when the command line is parsed."""

    name = "style"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        find_filter(value)
        return str(value)


class GraphParam(click.ParamType):
    """A graph string, parsed (syntax, stage names and option values) at once."""

    name = "graph"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        specs: list[StageSpec] = parse_graph(str(value))
        return str(value) if specs else ""


class SplitParam(click.ParamType):
    """``auto``, ``off`` (``None``) or a number of seconds (at least 1)."""

    name = "split"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float | str | None:
        if value in ("auto", "off", None) or isinstance(value, float):
            return None if value == "off" else value
        try:
            seconds = float(value)
        except ValueError:
            seconds = 0.0
        if not (math.isfinite(seconds) and seconds >= 1):
            self.fail(f"expected auto, off or seconds (at least 1), got {value!r}", param, ctx)
        return seconds


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
            "--fps", "capture_rate", type=FiniteRange(MIN_FPS, MAX_FPS),
            help="Camera capture rate; frame rate of an image-sequence input (default 25).",
        ),
        click.option(
            "--timeout", type=FiniteRange(0, 3600, min_open=True), default=15.0, show_default=True,
            help="Seconds to wait for a network input to open or deliver.",
        ),
        click.option("--realtime", "-re", is_flag=True, help="Read the input no faster than real time (ffmpeg -re)."),
        click.option(
            "--reconnect", type=click.FloatRange(0), is_flag=False, flag_value=30.0, default=0.0, metavar="[SECONDS]",
            help="When a network input drops or ends, keep reconnecting (with backoff) for up to SECONDS (30).",
        ),
        click.option("--preview", is_flag=True, help="Show the output in a window (keys: n/p style, +/- strength, q)."),
        click.option("--virtual-camera", is_flag=True, help="Send the output to a virtual camera (pyvirtualcam)."),
        click.option("-y", "--overwrite", is_flag=True, help="Replace an existing output file."),
    ]  # fmt: skip
    command = encoding_options(command)
    for option in reversed(options):
        command = option(command)
    return command


def encoding_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--codec``, ``--crf`` and ``--preset``."""
    options = [
        click.option("--codec", help="Video encoder (default libx264; libvpx-vp9 for .webm)."),
        click.option("--crf", type=click.IntRange(0, 63), default=18, show_default=True, help="Lower is better."),
        click.option(
            "--preset", type=click.Choice(X264_PRESETS),
            help="Encoder speed preset (x264/x265); default medium for files, veryfast for streams.",
        ),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


class StageParamType(click.ParamType):
    """A stage option's value, read by its :class:`~streamstyle.stages.base.Param` parser."""

    def __init__(self, param: Param) -> None:
        self.param = param
        self.name = param.name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return self.param.parse(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def stage_options(
    stage: type[Stage],
    *,
    renames: Mapping[str, str] | None = None,
    only: Sequence[str] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Command-line options generated from ``stage``'s ``Param`` table: help, default, parser and range.

    Every param becomes ``--name`` (``preserve_color`` -> ``--preserve-color``), so a new option
    of a stage reaches the command line with no change here; the primary param (``style``) is
    left out unless renamed.

    Args:
        renames: option names that differ from the param's (``{"size": "--seg-size"}``).
        only: offer just these params (the camera's few).
        defaults: defaults that differ from the stage's on this command.

    The values reach the command as ``STAGE__PARAM`` keywords; :func:`given_stage_options`
    collects those the user gave.
    """
    renamed = dict(renames or {})
    chosen = [p for p in stage.params if (not p.primary or p.name in renamed) and (only is None or p.name in only)]
    flags = {p.name: renamed.get(p.name, "--" + p.name.replace("_", "-")) for p in chosen}
    params = {param.name: param for param in stage.params}

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for name, flag in reversed(list(flags.items())):
            param = params[name]
            default = (defaults or {}).get(name, param.default)
            dest = f"{stage.name}__{name}"
            if param.parse is parse_bool and default is False:  # a boolean off by default: a flag
                option = click.option(flag, dest, is_flag=True, help=_sentence(param.help))
            else:
                option = click.option(
                    flag, dest, type=StageParamType(param), default=_shown(default), show_default=True,
                    help=_sentence(param.help),
                )  # fmt: skip
            command = option(command)
        return command

    return decorate


def given_stage_options(options: dict[str, Any], stage: type[Stage]) -> dict[str, Any]:
    """Take ``stage``'s generated options out of ``options``; return those given on the command line, by name."""
    context = click.get_current_context()
    prefix = f"{stage.name}__"
    given = {}
    for key in [key for key in options if key.startswith(prefix)]:
        value = options.pop(key)
        if context.get_parameter_source(key) is not click.core.ParameterSource.DEFAULT:
            given[key.removeprefix(prefix)] = value
    return given


def _shown(default: Any) -> str:
    """A default as the option's text (``person`` for ``("person",)``)."""
    if isinstance(default, tuple):
        return "+".join(map(str, default))
    return str(default)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
