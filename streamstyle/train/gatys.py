"""File-to-file Gatys optimisation: the job behind ``streamstyle optimize``."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from streamstyle.device import resolve_device
from streamstyle.io.media import Frame, VideoInfo
from streamstyle.io.opening import open_sink
from streamstyle.io.output_path import check_output_path
from streamstyle.io.sources import ImageSource
from streamstyle.train.losses import LossWeights, PerceptualLoss
from streamstyle.train.optimize import Optimizer, optimize_image
from streamstyle.train.vgg import load_loss_network


def read_image(path: Path, long_side: int) -> torch.Tensor:
    """An image as RGB ``(1, 3, H, W)`` float in [0, 255], resized so its long side is ``long_side``."""
    rgb = next(ImageSource(path).read()).rgb
    image = Image.fromarray(rgb)
    scale = long_side / max(image.size)
    image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.LANCZOS)
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)[None].float().contiguous()


def gatys_file(
    content: Path,
    style: Path,
    output: Path,
    *,
    steps: int = 300,
    optimizer: Optimizer = "lbfgs",
    size: int = 512,
    vgg: str | Path | None = None,
    content_weight: float = LossWeights.content,
    style_weight: float = LossWeights.style,
    tv_weight: float = LossWeights.tv,
    device: str = "auto",
    overwrite: bool = False,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
) -> Path:
    """Optimise ``content`` towards ``style`` and write the result to ``output`` (an image file).

    Raises:
        StreamStyleError: bad paths, options or loss-network weights.
    """
    check_output_path(output, reads=[Path(content), Path(style)], overwrite=overwrite)
    target = resolve_device(device)
    content_image = read_image(content, size).to(target)
    style_image = read_image(style, size).to(target)
    weights = LossWeights(content=content_weight, style=style_weight, tv=tv_weight)
    loss = PerceptualLoss(load_loss_network(vgg).to(target), style_image, weights).to(target)
    result = optimize_image(content_image, loss, steps=steps, optimizer=optimizer, on_step=on_step)
    rgb = result[0].round().byte().permute(1, 2, 0).cpu().numpy()
    height, width = rgb.shape[:2]
    info = VideoInfo(width, height, Fraction(1, 25), None, 1, None, 0, {})
    sink = open_sink(output, info, reads=[Path(content), Path(style)], overwrite=overwrite)
    sink.write([Frame(rgb, 0, 1)])
    sink.close(keep=True)
    return output
