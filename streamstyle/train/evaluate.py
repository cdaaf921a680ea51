"""Numbers to compare filters by: mean content and style loss of a filter's outputs.

The same loss network measures the filter's outputs and, as the reference, Gatys
optimisation on a few of the images. Distances are unweighted: content is the MSE at the
content layer, style the sum over the style layers of the MSE between Gram matrices.
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
    """Mean unweighted content and style distances over ``images`` images."""

    content: float
    style: float
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
    model = item.load_model().to(target)
    scores = score_network(model, files, loss, size=size, on_image=on_image)
    gatys = score_gatys(files[:gatys_images], loss, size=size, steps=gatys_steps, on_image=on_image)
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
    painting = Path(style_image) if style_image else item.style_image
    if painting is None:
        raise InvalidOptionError(f"filter {item.name!r} has no style image; pass one")
    recipe, defaults = item.recipe, LossWeights()
    weights = LossWeights(
        content=float(recipe.get("content_weight", defaults.content)),
        style=float(recipe.get("style_weight", defaults.style)),
        tv=float(recipe.get("tv_weight", defaults.tv)),
    )
    network = load_loss_network(vgg).to(device)
    style = read_image(painting, int(recipe.get("style_size", size))).to(device)
    return PerceptualLoss(network, style, weights).to(device)


def score_network(
    model: Callable[[torch.Tensor], torch.Tensor],
    files: list[Path],
    loss: PerceptualLoss,
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
        measured.append(_distances(loss, output, content))
        if on_image is not None:
            on_image(file.name)
    return _mean(measured)


def score_gatys(
    files: list[Path],
    loss: PerceptualLoss,
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
        measured.append(_distances(loss, result, content))
        if on_image is not None:
            on_image(f"gatys {file.name}")
    return _mean(measured) if measured else None


def _distances(loss: PerceptualLoss, output: torch.Tensor, content: torch.Tensor) -> tuple[float, float]:
    """Unweighted content MSE and style distance of ``output`` for ``content``."""
    network = loss.network
    with torch.no_grad():
        features = network(output, {*network.style_layers, network.content_layer})
        reference = network(content, [network.content_layer])[network.content_layer]
        content_mse = torch.nn.functional.mse_loss(features[network.content_layer], reference)
        return float(content_mse), float(loss.style_distance(features))


def _mean(pairs: list[tuple[float, float]]) -> Scores:
    return Scores(sum(p[0] for p in pairs) / len(pairs), sum(p[1] for p in pairs) / len(pairs), len(pairs))
