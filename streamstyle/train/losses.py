"""Perceptual losses of Gatys et al. and Johnson et al.: content, style (Gram), total variation.

Images are RGB in [0, 255] (seed 001 found training works better in that range).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from streamstyle.errors import InvalidOptionError
from streamstyle.train.vgg import LossNetwork

ContentLoss = Literal["mse", "charbonnier"]
CONTENT_LOSSES: tuple[str, ...] = ("mse", "charbonnier")


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrices ``(N, C, C)`` of features ``(N, C, H, W)``, normalised by ``C * H * W``; in fp32.

    Channels-last features are read as ``(N, H*W, C)`` without a copy (1.5x as fast at 256 px:
    the copy to ``(N, C, H*W)`` cost more than the product).
    """
    n, c, h, w = features.shape
    if features.is_contiguous(memory_format=torch.channels_last):
        flat = features.permute(0, 2, 3, 1).reshape(n, h * w, c).float().transpose(1, 2)
    else:
        flat = features.reshape(n, c, h * w).float()
    return flat @ flat.transpose(1, 2) / (c * h * w)


def charbonnier(prediction: torch.Tensor, target: torch.Tensor, epsilon: float = 1e-3) -> torch.Tensor:
    """Mean of ``sqrt((p - t)^2 + eps^2)``: a smooth L1 (seed 003's content loss)."""
    return torch.sqrt((prediction - target).float() ** 2 + epsilon**2).mean()


def content_distance(prediction: torch.Tensor, target: torch.Tensor, kind: ContentLoss = "mse") -> torch.Tensor:
    """MSE or Charbonnier distance between feature maps."""
    if kind == "charbonnier":
        return charbonnier(prediction, target)
    return F.mse_loss(prediction.float(), target.float())


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between horizontal neighbours plus that between vertical ones.

    A mean, so the weight does not depend on the crop size.
    """
    dx = images[..., :, 1:] - images[..., :, :-1]
    dy = images[..., 1:, :] - images[..., :-1, :]
    return dx.float().pow(2).mean() + dy.float().pow(2).mean()


@dataclass(frozen=True)
class LossWeights:
    """Weights of the three terms.

    Defaults are those tuned for the normalised VGG-19 of ../shared/data (pixels in [0, 255],
    Gram matrices normalised by C*H*W, relu1_2/2_2/3_4/4_4) while training the bundled
    ``starry`` filter. torchvision's VGG16 is not normalised (larger activations): give it
    its own weights.
    """

    content: float = 1.0
    style: float = 2e4
    tv: float = 2e-3
    content_loss: ContentLoss = "mse"
    style_layers: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        if len(self.style_layers) != 4 or min(self.style_layers) < 0:
            raise InvalidOptionError("style layer weights: four numbers >= 0, for relu1_2, relu2_2, relu3_x, relu4_x")


class PerceptualLoss(nn.Module):
    """Content + style + total-variation loss against one style image.

    Args:
        network: the frozen loss network.
        style: the style image ``(1, 3, H, W)`` in [0, 255]; its Gram matrices are kept.
        weights: the terms' weights and the content distance.

    ``forward(output, content)`` returns the weighted terms and their sum (``total``).
    """

    def __init__(self, network: LossNetwork, style: torch.Tensor, weights: LossWeights = LossWeights()) -> None:
        super().__init__()
        self.network = network
        self.weights = weights
        with torch.no_grad():
            features = network(style, network.style_layers)
        for name in network.style_layers:
            self.register_buffer(f"gram_{name}", gram_matrix(features[name]))

    def style_distance(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Sum over the style layers, weighted by ``weights.style_layers``, of the MSE between Gram matrices."""
        distances = self.layer_distances(features).values()
        return torch.stack([w * d for w, d in zip(self.weights.style_layers, distances, strict=True)]).sum()

    def layer_distances(self, features: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The unweighted Gram distance to the style at each style layer, of the network's ``features``."""
        distances = {}
        for name in self.network.style_layers:
            gram = gram_matrix(features[name])
            distances[name] = F.mse_loss(gram, getattr(self, f"gram_{name}").expand_as(gram))
        return distances

    def forward(self, output: torch.Tensor, content: torch.Tensor) -> dict[str, torch.Tensor]:
        layers = {*self.network.style_layers, self.network.content_layer}
        features = self.network(output, layers)
        with torch.no_grad():
            content_features = self.network(content, [self.network.content_layer])
        terms = {
            "content": self.weights.content
            * content_distance(
                features[self.network.content_layer],
                content_features[self.network.content_layer],
                self.weights.content_loss,
            ),
            "style": self.weights.style * self.style_distance(features),
            "tv": self.weights.tv * total_variation(output),
        }
        terms["total"] = terms["content"] + terms["style"] + terms["tv"]
        return terms
