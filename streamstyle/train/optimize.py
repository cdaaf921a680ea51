"""Gatys et al. optimisation: the image itself is optimised to match content and style.

Slow (hundreds of VGG passes per image), but the quality reference for a content/style pair
and the baseline of seed 001.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch

from streamstyle.errors import InvalidOptionError
from streamstyle.train.losses import PerceptualLoss

Optimizer = Literal["lbfgs", "adam"]
OPTIMIZERS: tuple[str, ...] = ("lbfgs", "adam")


def optimize_image(
    content: torch.Tensor,
    loss: PerceptualLoss,
    *,
    steps: int = 300,
    optimizer: Optimizer = "lbfgs",
    learning_rate: float | None = None,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
) -> torch.Tensor:
    """Optimise an image, starting from ``content``, to minimise ``loss(image, content)``.

    Args:
        content: RGB ``(1, 3, H, W)`` in [0, 255].
        loss: the perceptual loss holding the style target.
        steps: optimiser steps (for L-BFGS, each step is one line search of up to 20 evaluations).
        optimizer: ``lbfgs`` (as Gatys et al.) or ``adam``.
        learning_rate: default 1 for L-BFGS, 4 (pixel levels) for Adam.
        on_step: called after each step with the step number and the loss terms.

    Returns:
        The stylised image, RGB ``(1, 3, H, W)`` in [0, 255].

    Raises:
        InvalidOptionError: an unknown optimiser or a non-positive step count.
    """
    if optimizer not in OPTIMIZERS:
        raise InvalidOptionError(f"unknown optimizer {optimizer!r}; use one of: {', '.join(OPTIMIZERS)}")
    if steps < 1:
        raise InvalidOptionError(f"steps must be at least 1, got {steps}")
    image = content.detach().float().contiguous().clone().requires_grad_(True)
    if optimizer == "lbfgs":
        solver: torch.optim.Optimizer = torch.optim.LBFGS(
            [image], lr=learning_rate or 1.0, max_iter=20, history_size=50, line_search_fn="strong_wolfe"
        )
    else:
        solver = torch.optim.Adam([image], lr=learning_rate or 4.0)
    terms: dict[str, torch.Tensor] = {}

    def closure() -> torch.Tensor:
        nonlocal terms
        solver.zero_grad()
        terms = loss(image, content)
        terms["total"].backward()
        return terms["total"]

    for step in range(1, steps + 1):
        solver.step(closure)
        with torch.no_grad():
            image.clamp_(0, 255)
        if on_step is not None:
            on_step(step, {name: float(value.detach()) for name, value in terms.items()})
    return image.detach()
