"""``streamstyle train``, ``evaluate`` and ``optimize``: making filters and judging them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from streamstyle.cli.app import EXIT_INTERRUPTED
from streamstyle.cli.params import StyleParam, _parse_floats
from streamstyle.errors import InvalidOptionError
from streamstyle.models import ARCHITECTURES
from streamstyle.train.evaluate import evaluate_filter
from streamstyle.train.gatys import gatys_file
from streamstyle.train.losses import CONTENT_LOSSES, LossWeights
from streamstyle.train.optimize import OPTIMIZERS
from streamstyle.train.trainer import StyleCredit, TrainConfig, Trainer

CPU_RECIPE: dict[str, Any] = {
    "crop": 128,  # then the last 1/16 of the steps at 2 x crop
    "iterations": 4000,
    "style_size": 384,
    "style_weight": 1e5,
    "style_layer_weights": (0.05, 0.2, 1.0, 1.0),  # relu1_2 dominates the Gram loss ~20x otherwise
}
"""``streamstyle train``'s defaults: the recipe of the bundled filters, which reaches the painting's
large motifs in about an hour on a 2-core CPU (filters/README.md)."""


@click.command()
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
        gatys_file(content, style_image, output, on_step=lambda step, terms: progress.update(1), **options)
    click.echo(f"wrote {output}", err=True)


@click.command()
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
@click.option("--crop", type=click.IntRange(min=32), default=CPU_RECIPE["crop"], show_default=True)
@click.option(
    "--finish-crop", type=click.IntRange(min=32), help="Crop size of the last --finish-iterations steps (2 x --crop)."
)
@click.option(
    "--finish-iterations", type=click.IntRange(min=0), help="Steps at --finish-crop at the end (1/16 of --iterations)."
)
@click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--lr", "learning_rate", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True)
@click.option(
    "--iterations",
    type=click.IntRange(min=1),
    default=CPU_RECIPE["iterations"],
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
    default=CPU_RECIPE["style_size"],
    show_default=True,
    help="Long side of the style image, pixels (sets the stroke scale).",
)
@click.option("--content-weight", type=float, default=LossWeights.content, show_default=True)
@click.option("--style-weight", type=float, default=CPU_RECIPE["style_weight"], show_default=True)
@click.option("--tv-weight", type=float, default=LossWeights.tv, show_default=True)
@click.option("--content-loss", type=click.Choice(CONTENT_LOSSES), default="mse", show_default=True)
@click.option(
    "--style-layer-weights",
    callback=lambda ctx, param, value: _parse_floats(ctx, param, value, 4),
    default=",".join(f"{w:g}" for w in CPU_RECIPE["style_layer_weights"]),
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

    The defaults are the CPU recipe of the bundled filters: about an hour a filter on a 2-core
    CPU with AMX, the painting's large motifs included. On a GPU, train longer and larger, e.g.
    --crop 256 --iterations 40000.

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
        raise InvalidOptionError("give --add-style or --fine-tune, not both")
    options["base_filter"] = options["base_filter"] or start_filter
    if options["finish_iterations"] is None:
        options["finish_iterations"] = options["iterations"] // 16
    options["finish_crop"] = options["finish_crop"] or (2 * options["crop"] if options["finish_iterations"] else 0)
    config = TrainConfig(weights=weights, credit=credit, arch_options=arch_options, **options)
    trainer = Trainer(config, resume=resume)
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
        except KeyboardInterrupt:
            click.echo(f"interrupted at step {trainer.step}; checkpoint saved, continue with --resume", err=True)
            sys.exit(EXIT_INTERRUPTED)
    per_step = trainer.seconds / max(trainer.step, 1)
    click.echo(f"wrote {folder} ({trainer.step} steps, {trainer.seconds:.0f} s, {per_step:.3f} s/step)", err=True)


@click.command()
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
        result = evaluate_filter(style, images, on_image=lambda _: progress.update(1), **options)
    rows = [("filter " + style, result.filter)] + ([("gatys", result.gatys)] if result.gatys else [])
    click.echo(f"{'':<24} {'images':>6} {'content':>12} {'style':>12} {'motif':>12}")
    for label, scores in rows:
        click.echo(
            f"{label:<24} {scores.images:>6} {scores.content:>12.5g} {scores.style:>12.5g} {scores.motif:>12.5g}"
        )
    if result.style_ratio is not None:
        click.echo(f"style loss / Gatys style loss: {result.style_ratio:.2f}")
