"""Numbers to compare filters by: mean content, style and motif distances of a filter's outputs.

The same loss network measures the filter's outputs and, as the reference, Gatys
optimisation on a few of the images. Distances are unweighted: content is the MSE at the
content layer, style the sum over the style layers of the MSE between Gram matrices. The style
distance is dominated by relu1_2 (colours, fine texture: about 20x the deeper layers with the
normalised VGG-19), so it rates a filter that copies the palette and a fine hatching above one
that paints the painting's large motifs; the motif distance sees those: the Gram distance at
the two deepest style layers only, against the painting at the trained size and at twice it,
averaged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from streamstyle.device import resolve_device
from streamstyle.errors import InvalidOptionError
from streamstyle.filters import Filter, find_filter
from streamstyle.io.media import IMAGE_SUFFIXES
from streamstyle.train.gatys import read_image
from streamstyle.train.losses import LossWeights, PerceptualLoss
from streamstyle.train.optimize import optimize_image
from streamstyle.train.vgg import load_loss_network


@dataclass(frozen=True)
class Scores:
    """Mean unweighted content, style and motif distances over ``images`` images (lower is closer)."""

    content: float
    style: float
    motif: float
    images: int


@dataclass(frozen=True)
class Evaluation:
    """A filter's scores and those of Gatys optimisation on the first few images."""

    filter: Scores
    gatys: Scores | None

    @property
    def style_ratio(self) -> float | None:
        """Filter style loss over Gatys style loss (1 = as close to the style as optimisation gets)."""
        return self.filter.style / self.gatys.style if self.gatys and self.gatys.style > 0 else None


def evaluate_filter(
    style: str | Path | Filter,
    images: str | Path,
    *,
    style_image: str | Path | None = None,
    size: int = 512,
    vgg: str | Path | None = None,
    gatys_images: int = 2,
    gatys_steps: int = 50,
    device: str = "auto",
    on_image: Callable[[str], None] | None = None,
) -> Evaluation:
    """Score a filter on the images of a folder (long side resized to ``size``).

    Args:
        style: the filter.
        images: folder of content images.
        style_image: the painting (default the filter's style image); measured at the size the
            filter was trained with (``recipe.style_size``) where known.
        gatys_images: how many of the images to also stylise by Gatys optimisation (0: none).
        on_image: called with a label as each image is done (for progress).

    Raises:
        InvalidOptionError: no images in the folder or no style image.
    """
    item = style if isinstance(style, Filter) else find_filter(style)
    files = sorted(p for p in Path(images).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InvalidOptionError(f"no images under {images}")
    target = resolve_device(device)
    loss = filter_loss(item, vgg, target, style_image=style_image, size=size)
    motifs = motif_loss(item, loss, style_image=style_image, size=size)
    model = item.load_model().to(target)
    scores = score_network(model, files, loss, motifs, size=size, on_image=on_image)
    gatys = score_gatys(files[:gatys_images], loss, motifs, size=size, steps=gatys_steps, on_image=on_image)
    return Evaluation(scores, gatys)


def filter_loss(
    item: Filter,
    vgg: str | Path | None,
    device: torch.device,
    *,
    style_image: str | Path | None = None,
    size: int = 512,
) -> PerceptualLoss:
    """The loss ``item`` was trained on, where its recipe records it, on the loss network ``vgg``.

    The painting is ``style_image`` or the filter's, at the recipe's ``style_size`` (else
    ``size``); the weights are the recipe's, so Gatys optimises what the filter was trained on.

    Raises:
        InvalidOptionError: no style image.
    """
    recipe, defaults = item.recipe, LossWeights()
    weights = LossWeights(
        content=float(recipe.get("content_weight", defaults.content)),
        style=float(recipe.get("style_weight", defaults.style)),
        tv=float(recipe.get("tv_weight", defaults.tv)),
        style_layers=tuple(float(w) for w in recipe.get("style_layer_weights", defaults.style_layers)),
    )
    network = load_loss_network(vgg).to(device)
    style = read_image(_painting(item, style_image), int(recipe.get("style_size", size))).to(device)
    return PerceptualLoss(network, style, weights).to(device)


MOTIF_SCALES = (1, 2)
"""Sizes of the painting the motif distance compares with, as multiples of the trained style size."""


def motif_loss(
    item: Filter, loss: PerceptualLoss, *, style_image: str | Path | None = None, size: int = 512
) -> list[PerceptualLoss]:
    """Losses holding the painting's Gram matrices at :data:`MOTIF_SCALES`, on ``loss``'s network."""
    device = next(loss.buffers()).device
    base = int(item.recipe.get("style_size", size))
    painting = _painting(item, style_image)
    deep = LossWeights(style_layers=(0.0, 0.0, 1.0, 1.0))
    return [
        PerceptualLoss(loss.network, read_image(painting, base * scale).to(device), deep).to(device)
        for scale in MOTIF_SCALES
    ]


def _painting(item: Filter, style_image: str | Path | None) -> Path:
    painting = Path(style_image) if style_image else item.style_image
    if painting is None:
        raise InvalidOptionError(f"filter {item.name!r} has no style image; pass one")
    return painting


def score_network(
    model: Callable[[torch.Tensor], torch.Tensor],
    files: list[Path],
    loss: PerceptualLoss,
    motifs: list[PerceptualLoss],
    *,
    size: int = 512,
    on_image: Callable[[str], None] | None = None,
) -> Scores:
    """Mean distances of ``model``'s outputs (RGB [0, 255] in and out) on ``files``."""
    device = next(loss.buffers()).device
    measured = []
    for file in files:
        content = read_image(file, size).to(device)
        with torch.inference_mode():
            output = model(content).clamp(0, 255)
        measured.append(_distances(loss, motifs, output, content))
        if on_image is not None:
            on_image(file.name)
    return _mean(measured)


def score_gatys(
    files: list[Path],
    loss: PerceptualLoss,
    motifs: list[PerceptualLoss],
    *,
    size: int = 512,
    steps: int = 50,
    on_image: Callable[[str], None] | None = None,
) -> Scores | None:
    """Mean distances of Gatys optimisation (L-BFGS, ``steps``) on ``files``; None for no files."""
    device = next(loss.buffers()).device
    measured = []
    for file in files:
        content = read_image(file, size).to(device)
        result = optimize_image(content, loss, steps=steps, optimizer="lbfgs")
        measured.append(_distances(loss, motifs, result, content))
        if on_image is not None:
            on_image(f"gatys {file.name}")
    return _mean(measured) if measured else None


def _distances(
    loss: PerceptualLoss, motifs: list[PerceptualLoss], output: torch.Tensor, content: torch.Tensor
) -> tuple[float, float, float]:
    """Unweighted content MSE, style distance and motif distance of ``output`` for ``content``."""
    network = loss.network
    with torch.no_grad():
        features = network(output, {*network.style_layers, network.content_layer})
        reference = network(content, [network.content_layer])[network.content_layer]
        content_mse = torch.nn.functional.mse_loss(features[network.content_layer], reference)
        style = sum(float(distance) for distance in loss.layer_distances(features).values())
        motif = sum(float(scale.style_distance(features)) for scale in motifs) / len(motifs)
        return float(content_mse), float(style), motif


def _mean(rows: list[tuple[float, float, float]]) -> Scores:
    content, style, motif = (sum(row[i] for row in rows) / len(rows) for i in range(3))
    return Scores(content, style, motif, len(rows))
