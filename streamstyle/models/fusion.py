"""The Fusion network of Qiu & Huang (seed 000 Fig. 5(b)): Johnson's ends, Fusion modules inside."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from streamstyle.models.layers import ConvLayer, ResidualBlock, TransposedConvLayer
from streamstyle.models.padding import pad_to_stride


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


class Fusion(nn.Module):
    """Seed 000's transformation network: 3 down convs, 5 Fusion modules, 3 up convs, BatchNorm.

    Conv parameters: 631,555 (62.3% fewer than Johnson et al.).

    Shape:
        RGB ``(N, 3, H, W)`` in [0, 255] -> RGB ``(N, 3, H, W)`` in [-22.5, 277.5]; any size.
    """

    __constants__ = ("stride", "min_size")  # so TorchScript compiles them in
    stride = 4
    min_size = 16

    def __init__(self, *, modules: int = 5) -> None:
        super().__init__()
        self.conv1 = ConvLayer(3, 32, 9, padding="zeros")
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = ConvLayer(32, 64, 3, stride=2, padding="zeros")
        self.bn2 = nn.BatchNorm2d(64)
        self.conv3 = ConvLayer(64, 128, 3, stride=2, padding="zeros")
        self.bn3 = nn.BatchNorm2d(128)
        self.fusions = nn.Sequential(*(FusionModule(128) for _ in range(modules)))
        self.deconv1 = TransposedConvLayer(128, 64)
        self.bn4 = nn.BatchNorm2d(64)
        self.deconv2 = TransposedConvLayer(64, 32)
        self.bn5 = nn.BatchNorm2d(32)
        self.deconv3 = ConvLayer(32, 3, 9, padding="zeros")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        y = pad_to_stride(x, self.stride, self.min_size)
        y = F.relu(self.bn1(self.conv1(y)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = F.relu(self.bn3(self.conv3(y)))
        y = self.fusions(y)
        y = F.relu(self.bn4(self.deconv1(y)))
        y = F.relu(self.bn5(self.deconv2(y)))
        y = 150.0 * torch.tanh(self.deconv3(y)) + 127.5
        return y[..., :height, :width]
