"""The Fusion network of Qiu & Huang (seed 000 Fig. 5(b)): Johnson's ends, Fusion modules inside."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from streamstyle.models.johnson import Johnson
from streamstyle.models.layers import ResidualBlock


class FusionModule(nn.Module):
    """``concat(W2(W1 x), F(W1 x) + W1 x)``: a 1x1 reduction feeding a 1x1 branch and a residual branch.

    With 128 channels: W1 1x1 128->64, W2 1x1 64->64, a residual block of two 3x3 64->64;
    BatchNorm and ReLU after each convolution. Conv parameters: 86,272.
    """

    def __init__(self, channels: int = 128) -> None:
        super().__init__()
        half = channels // 2
        self.reduce = nn.Conv2d(channels, half, 1)
        self.bn_reduce = nn.BatchNorm2d(half)
        self.branch = nn.Conv2d(half, half, 1)
        self.bn_branch = nn.BatchNorm2d(half)
        self.residual = ResidualBlock(half, norm="batch", padding="zeros")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reduced = F.relu(self.bn_reduce(self.reduce(x)))
        branch = F.relu(self.bn_branch(self.branch(reduced)))
        return torch.cat([branch, self.residual(reduced)], dim=1)


class Fusion(Johnson):
    """Seed 000's transformation network: Johnson et al.'s ends around 5 Fusion modules, BatchNorm.

    Conv parameters: 631,555 (62.3% fewer than Johnson et al.).

    Shape:
        RGB ``(N, 3, H, W)`` in [0, 255] -> RGB ``(N, 3, H, W)`` in [-22.5, 277.5]; any size.
    """

    def __init__(self, *, modules: int = 5) -> None:
        super().__init__(residual_blocks=modules)

    @staticmethod
    def build_middle(blocks: int) -> nn.Module:
        """Fusion modules in place of the residual blocks."""
        return nn.Sequential(*(FusionModule(128) for _ in range(blocks)))
