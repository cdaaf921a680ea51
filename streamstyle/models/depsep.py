"""DepSep networks of Pandey et al. (seed 003): Johnson et al. with depthwise-separable convs.

Every convolution of the Johnson network becomes a depthwise convolution with channel
multiplier 4 (no bias) followed by a pointwise 1x1 convolution (with bias), as Keras'
``SeparableConv2D(depth_multiplier=4)``; InstanceNorm after every layer but the last.
The three variants differ in how they upsample:

- ``depsep``: 3x3 transposed convolutions with stride 2 (as Johnson et al.);
- ``depsep_nn``: nearest-neighbour upsampling, then a separable convolution;
- ``depsep_nn_bil``: nearest and bilinear upsampling concatenated, then a separable convolution.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from streamstyle.models.layers import InstanceNorm2d, TransposedConvLayer
from streamstyle.models.padding import pad_to_stride

Upsampling = Literal["transposed", "nearest", "nearest_bilinear"]
MULTIPLIER = 4


class SeparableConv(nn.Module):
    """Reflection-padded depthwise ``k x k`` conv (``in * 4`` maps) and a pointwise 1x1 conv."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(kernel_size // 2)
        self.depthwise = nn.Conv2d(
            in_channels, in_channels * MULTIPLIER, kernel_size, stride, groups=in_channels, bias=False
        )
        self.pointwise = nn.Conv2d(in_channels * MULTIPLIER, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(self.pad(x)))


class SeparableResidualBlock(nn.Module):
    """Johnson's residual block with separable convolutions."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = SeparableConv(channels, channels, 3)
        self.in1 = InstanceNorm2d(channels)
        self.conv2 = SeparableConv(channels, channels, 3)
        self.in2 = InstanceNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.in2(self.conv2(F.relu(self.in1(self.conv1(x)))))


class Upsample(nn.Module):
    """Doubles H and W by one of the three methods of seed 003."""

    def __init__(self, in_channels: int, out_channels: int, method: Upsampling) -> None:
        super().__init__()
        self.method = method
        if method == "transposed":
            self.conv: nn.Module = TransposedConvLayer(in_channels, out_channels)
        else:
            factor = 2 if method == "nearest_bilinear" else 1
            self.conv = SeparableConv(in_channels * factor, out_channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.method == "nearest":
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        elif self.method == "nearest_bilinear":
            nearest = F.interpolate(x, scale_factor=2.0, mode="nearest")
            bilinear = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = torch.cat([nearest, bilinear], dim=1)
        return self.conv(x)


class DepSep(nn.Module):
    """Johnson et al.'s network with depthwise-separable convolutions (seed 003).

    Args:
        upsampling: ``transposed`` (DepSep), ``nearest`` (DepSep-NN) or ``nearest_bilinear``
            (DepSep-NN-Bil).
        residual_blocks: residual blocks in the middle (5).

    Shape:
        RGB ``(N, 3, H, W)`` in [0, 255] -> RGB ``(N, 3, H, W)`` in about [0, 255]; any size.
    """

    __constants__ = ("stride", "min_size")  # so TorchScript compiles them in
    stride = 4
    min_size = 16

    def __init__(self, *, upsampling: Upsampling = "transposed", residual_blocks: int = 5) -> None:
        super().__init__()
        self.conv1 = SeparableConv(3, 32, 9)
        self.in1 = InstanceNorm2d(32)
        self.conv2 = SeparableConv(32, 64, 3, stride=2)
        self.in2 = InstanceNorm2d(64)
        self.conv3 = SeparableConv(64, 128, 3, stride=2)
        self.in3 = InstanceNorm2d(128)
        self.residuals = nn.Sequential(*(SeparableResidualBlock(128) for _ in range(residual_blocks)))
        self.up1 = Upsample(128, 64, upsampling)
        self.in4 = InstanceNorm2d(64)
        self.up2 = Upsample(64, 32, upsampling)
        self.in5 = InstanceNorm2d(32)
        self.conv_out = SeparableConv(32, 3, 9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        y = pad_to_stride(x, self.stride, self.min_size)
        y = F.relu(self.in1(self.conv1(y)))
        y = F.relu(self.in2(self.conv2(y)))
        y = F.relu(self.in3(self.conv3(y)))
        y = self.residuals(y)
        y = F.relu(self.in4(self.up1(y)))
        y = F.relu(self.in5(self.up2(y)))
        return self.conv_out(y)[..., :height, :width]


def depsep(*, residual_blocks: int = 5) -> DepSep:
    """DepSep: separable convolutions, transposed-convolution upsampling."""
    return DepSep(upsampling="transposed", residual_blocks=residual_blocks)


def depsep_nn(*, residual_blocks: int = 5) -> DepSep:
    """DepSep-NN: separable convolutions, nearest-neighbour upsampling."""
    return DepSep(upsampling="nearest", residual_blocks=residual_blocks)


def depsep_nn_bil(*, residual_blocks: int = 5) -> DepSep:
    """DepSep-NN-Bil: separable convolutions, nearest and bilinear upsampling concatenated."""
    return DepSep(upsampling="nearest_bilinear", residual_blocks=residual_blocks)
