"""Registry of image-transformation networks, selectable by name.

Every network is a pure ``nn.Module`` without I/O that maps RGB ``(N, 3, H, W)`` float in
[0, 255] to RGB of the same shape in about [0, 255] (callers clamp). Networks pad internally
to their stride, so any ``H x W`` works.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from streamstyle.errors import InvalidOptionError
from streamstyle.models.depsep import DepSep, depsep, depsep_nn, depsep_nn_bil
from streamstyle.models.fusion import Fusion
from streamstyle.models.johnson import Johnson, JohnsonIN
from streamstyle.models.stylebank import StyleBankNet

ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "johnson": Johnson,
    "johnson_in": JohnsonIN,
    "fusion": Fusion,
    "depsep": depsep,
    "depsep_nn": depsep_nn,
    "depsep_nn_bil": depsep_nn_bil,
    "stylebank": StyleBankNet,
}
"""Network builders by architecture name (the ``architecture`` of filters, ``--arch`` of the trainer)."""


def build_model(architecture: str, **options: Any) -> nn.Module:
    """Build an untrained network by architecture name.

    Args:
        architecture: one of :data:`ARCHITECTURES`.
        **options: keyword options of that architecture's builder (e.g. ``width``).

    Raises:
        InvalidOptionError: unknown architecture or options it does not take.
    """
    try:
        builder = ARCHITECTURES[architecture]
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES))
        raise InvalidOptionError(f"unknown architecture {architecture!r}; known: {known}") from None
    try:
        return builder(**options)
    except TypeError as exc:
        raise InvalidOptionError(f"bad options for {architecture!r}: {exc}") from None


def count_parameters(model: nn.Module) -> int:
    """Number of scalars in all parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())


def count_conv_parameters(model: nn.Module) -> int:
    """Convolution weights and biases only, norm layers excluded: what the seed papers tabulate."""
    convs = (m for m in model.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d))
    return sum(p.numel() for conv in convs for p in conv.parameters())


__all__ = [
    "ARCHITECTURES",
    "DepSep",
    "Fusion",
    "Johnson",
    "JohnsonIN",
    "StyleBankNet",
    "build_model",
    "count_conv_parameters",
    "count_parameters",
]
