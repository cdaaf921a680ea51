"""The ``streamstyle`` command group: lazy sub-commands, and the one place errors become exit codes.

Sub-commands live in modules of their own and are imported only when run, so ``streamstyle
--help`` and ``streamstyle filters`` start without PyTorch. A
:class:`~streamstyle.errors.StreamStyleError` becomes one line on stderr and its exit code;
any other exception one line and :data:`EXIT_INTERNAL` (the traceback with ``--debug`` or
``STREAMSTYLE_DEBUG=1``).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Any

import click

from streamstyle import __version__
from streamstyle.cli import EXIT_INTERRUPTED
from streamstyle.errors import PipeClosedError, StreamStyleError
from streamstyle.interrupts import deliver_interrupts, interrupts_held

EXIT_INTERNAL = 70
"""An unexpected error (a bug): BSD's EX_SOFTWARE."""
DEBUG_VARIABLE = "STREAMSTYLE_DEBUG"

COMMANDS: dict[str, tuple[str, str]] = {
    "stylize": ("streamstyle.cli.stylize:stylize", "Stylise INPUT and write OUTPUT (the default command)."),
    "batch": ("streamstyle.cli.batch:batch", "Stylise many inputs (files, folders, globs), here or on Ray."),
    "camera": ("streamstyle.cli.stylize:camera", "Live filter: a camera or live input to a window, stream or file."),
    "filters": ("streamstyle.cli.filters:filters", "List the installed filters (or `show NAME` for one)."),
    "export": ("streamstyle.cli.export:export", "Export a filter's network as ONNX or TorchScript."),
    "evaluate-video": ("streamstyle.cli.measure:evaluate_video", "Flicker of a stylised video: the warping error."),
    "bench": ("streamstyle.cli.measure:bench", "Frames per second: network, file to file, naive loop."),
    "optimize": ("streamstyle.cli.training:optimize", "Gatys et al. optimisation of one image (quality reference)."),
    "train": ("streamstyle.cli.training:train", "Train a filter (perceptual loss, Johnson et al.)."),
    "evaluate": ("streamstyle.cli.training:evaluate", "Content and style loss of a filter, next to Gatys."),
}
"""Sub-command name -> (``module:attribute``, the one line ``--help`` shows without importing it)."""
GROUP_OPTIONS = frozenset({"-h", "--help", "--version", "--debug"})


class StreamstyleGroup(click.Group):
    """Lazy sub-commands; a first argument that is no sub-command (or an option of ``stylize``) runs ``stylize``.

    Errors are reported in one line (see the module's description).
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, _, attribute = COMMANDS[name][0].partition(":")
        with interrupts_held() as caught:  # PyTorch's start-up half swallows a Ctrl-C: take it after
            command: click.Command = getattr(importlib.import_module(module), attribute)
        deliver_interrupts(caught)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, summary) for name, (_, summary) in COMMANDS.items()])

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if (
            args and args[0] not in GROUP_OPTIONS and args[0] not in COMMANDS
        ):  # `streamstyle in.mp4 -s x`, `-s x in.mp4`
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
        except PipeClosedError as exc:  # `| head`: the reader has what it wanted; say nothing
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error at exit
            sys.exit(exc.exit_code)
        except StreamStyleError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except (click.Abort, KeyboardInterrupt):
            click.echo("interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except Exception as exc:
            if os.environ.get(DEBUG_VARIABLE):
                raise
            click.echo(
                f"error: unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
                f"(a bug: run again with --debug or {DEBUG_VARIABLE}=1 for the traceback, and report it)",
                err=True,
            )
            sys.exit(EXIT_INTERNAL)
        sys.exit(code if isinstance(code, int) else 0)


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


def _debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        os.environ[DEBUG_VARIABLE] = "1"


@click.group(cls=StreamstyleGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="streamstyle")
@click.option(
    "--debug", is_flag=True, expose_value=False, is_eager=True, callback=_debug,
    help=f"Show the traceback of an unexpected error (or set {DEBUG_VARIABLE}=1).",
)  # fmt: skip
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
