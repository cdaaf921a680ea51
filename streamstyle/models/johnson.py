"""Johnson et al. feed-forward style networks.

``JohnsonIN`` is the variant of seed 001 (and pytorch/examples ``fast_neural_style``):
InstanceNorm, reflection padding, nearest-neighbour upsampling followed by a convolution
instead of a transposed convolution (no checkerboard artefacts).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class ConvLayer(nn.Module):
    """Reflection-padded convolution, so the border is not darkened by zero padding."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pad(x))


class UpsampleConvLayer(nn.Module):
    """Nearest-neighbour upsampling by ``factor`` followed by a reflection-padded convolution."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, factor: int = 2) -> None:
        super().__init__()
        self.factor = factor
        self.conv = ConvLayer(in_channels, out_channels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=self.factor, mode="nearest"))


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with InstanceNorm; no ReLU after the sum (Gross & Wilber)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, 3)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.in1(self.conv1(x)))
        return x + self.in2(self.conv2(y))


class JohnsonIN(nn.Module):
    """Johnson et al. transformation network with InstanceNorm and upsample+conv (seed 001).

    Args:
        width: channels of the first layer (32 in the paper); the others scale with it.
        residual_blocks: number of residual blocks in the middle (5 in the paper).

    Shape:
        RGB ``(N, 3, H, W)`` in [0, 255] -> RGB ``(N, 3, H, W)`` in about [0, 255] (not clamped).
        Any ``H x W`` works: the input is reflect-padded to a multiple of 4 (at least 16) and
        cropped back.
    """

    stride = 4
    min_size = 16  # smaller inputs are padded up, so every reflection pad inside has room

    def __init__(self, *, width: int = 32, residual_blocks: int = 5) -> None:
        super().__init__()
        w1, w2, w3 = width, 2 * width, 4 * width
        self.conv1 = ConvLayer(3, w1, 9)
        self.in1 = nn.InstanceNorm2d(w1, affine=True)
        self.conv2 = ConvLayer(w1, w2, 3, stride=2)
        self.in2 = nn.InstanceNorm2d(w2, affine=True)
        self.conv3 = ConvLayer(w2, w3, 3, stride=2)
        self.in3 = nn.InstanceNorm2d(w3, affine=True)
        self.residuals = nn.Sequential(*(ResidualBlock(w3) for _ in range(residual_blocks)))
        self.deconv1 = UpsampleConvLayer(w3, w2, 3)
        self.in4 = nn.InstanceNorm2d(w2, affine=True)
        self.deconv2 = UpsampleConvLayer(w2, w1, 3)
        self.in5 = nn.InstanceNorm2d(w1, affine=True)
        self.deconv3 = ConvLayer(w1, 3, 9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        pad_h = max(-height % self.stride, self.min_size - height)
        pad_w = max(-width % self.stride, self.min_size - width)
        if pad_h or pad_w:
            mode = "reflect" if pad_h < height and pad_w < width else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        y = F.relu(self.in1(self.conv1(x)))
        y = F.relu(self.in2(self.conv2(y)))
        y = F.relu(self.in3(self.conv3(y)))
        y = self.residuals(y)
        y = F.relu(self.in4(self.deconv1(y)))
        y = F.relu(self.in5(self.deconv2(y)))
        y = self.deconv3(y)
        return y[..., :height, :width]
