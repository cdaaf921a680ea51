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

from streamstyle.errors import InvalidOptionError
from streamstyle.filters import Filter, find_filter
from streamstyle.pipeline import resolve_device
from streamstyle.sources import IMAGE_SUFFIXES
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
        style_image: the painting (default the filter's style image); measure at the size the
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
    painting = Path(style_image) if style_image else item.style_image
    if painting is None:
        raise InvalidOptionError(f"filter {item.name!r} has no style image; pass one")
    target = resolve_device(device)
    model = item.load_model().to(target)
    recipe = item.recipe
    style_size = int(recipe.get("style_size", size))
    defaults = LossWeights()
    weights = LossWeights(  # Gatys optimises the loss the filter was trained on, where recorded
        content=float(recipe.get("content_weight", defaults.content)),
        style=float(recipe.get("style_weight", defaults.style)),
        tv=float(recipe.get("tv_weight", defaults.tv)),
    )
    network = load_loss_network(vgg).to(target)
    loss = PerceptualLoss(network, read_image(painting, style_size).to(target), weights).to(target)

    def distances(output: torch.Tensor, content: torch.Tensor) -> tuple[float, float]:
        network = loss.network
        with torch.no_grad():
            features = network(output, {*network.style_layers, network.content_layer})
            reference = network(content, [network.content_layer])[network.content_layer]
            content_mse = torch.nn.functional.mse_loss(features[network.content_layer], reference)
            return float(content_mse), float(loss.style_distance(features))

    measured = []
    for file in files:
        content = read_image(file, size).to(target)
        with torch.inference_mode():
            output = model(content).clamp(0, 255)
        measured.append(distances(output, content))
        if on_image is not None:
            on_image(file.name)
    gatys = []
    for file in files[:gatys_images]:
        content = read_image(file, size).to(target)
        result = optimize_image(content, loss, steps=gatys_steps, optimizer="lbfgs")
        gatys.append(distances(result, content))
        if on_image is not None:
            on_image(f"gatys {file.name}")
    return Evaluation(_mean(measured), _mean(gatys) if gatys else None)


def _mean(pairs: list[tuple[float, float]]) -> Scores:
    return Scores(sum(p[0] for p in pairs) / len(pairs), sum(p[1] for p in pairs) / len(pairs), len(pairs))
