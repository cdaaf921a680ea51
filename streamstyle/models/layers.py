"""Building blocks shared by the transformation networks."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

Norm = Literal["instance", "batch"]


class InstanceNorm2d(nn.InstanceNorm2d):
    """Affine InstanceNorm (no running statistics) that runs as a GroupNorm of one channel per group on the CPU.

    The two are the same function with the same parameters, but torch's ``instance_norm`` folds the batch into
    the channels, which copies channels_last frames out of and back into their layout; ``group_norm`` has a
    channels_last CPU kernel: on a 2-core Xeon the ``starry`` filter runs 1.87x as fast in bf16 and 1.38x in
    fp32 (``bench/norm.py``).
    Other devices keep ``instance_norm``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__(channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu":
            return F.group_norm(x, self.num_features, self.weight, self.bias, self.eps)
        return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)


def norm_layer(kind: Norm, channels: int) -> nn.Module:
    """InstanceNorm (affine, no running stats) or BatchNorm over ``channels``."""
    return InstanceNorm2d(channels) if kind == "instance" else nn.BatchNorm2d(channels)


class ConvLayer(nn.Module):
    """Reflection-padded convolution (``padding="zeros"`` for the seeds' TF-style zero padding)."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, *, padding: str = "reflect"
    ) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(kernel_size // 2) if padding == "reflect" else nn.ZeroPad2d(kernel_size // 2)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pad(x))


class UpsampleConvLayer(nn.Module):
    """Nearest-neighbour upsampling by 2 and a reflection-padded convolution (no checkerboard)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = ConvLayer(in_channels, out_channels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class TransposedConvLayer(nn.Module):
    """3x3 transposed convolution with stride 2 that exactly doubles H and W (seed 000's deconv)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(
            in_channels, out_channels, kernel_size, stride=2, padding=kernel_size // 2, output_padding=1
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with normalisation; identity shortcut, no ReLU after the sum."""

    def __init__(self, channels: int, *, norm: Norm = "instance", padding: str = "reflect") -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3, padding=padding)
        self.in1 = norm_layer(norm, channels)
        self.conv2 = ConvLayer(channels, channels, 3, padding=padding)
        self.in2 = norm_layer(norm, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.in1(self.conv1(x)))
        return x + self.in2(self.conv2(y))
