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
    """Reflection-padded convolution (``padding="zeros"`` for the seeds' TF-style zero padding).

    On the CPU a convolution with few output channels (the RGB output layers) runs as a row-split convolution
    (:func:`row_split_conv2d`): the same function and parameters, 2-3x as fast.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, *, padding: str = "reflect"
    ) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(kernel_size // 2) if padding == "reflect" else nn.ZeroPad2d(kernel_size // 2)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride)
        self.row_parts = row_split_parts(in_channels, out_channels, kernel_size) if stride == 1 else 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pad(x)
        if self.row_parts > 1 and x.device.type == "cpu":
            return row_split_conv2d(x, self.conv.weight, self.conv.bias, self.row_parts)
        return self.conv(x)


ONEDNN_CHANNEL_BLOCK = 16
"""oneDNN computes output channels in blocks of 16 on AVX-512 CPUs: a 3-channel convolution costs a 16-channel one."""


def row_split_parts(in_channels: int, out_channels: int, kernel_size: int) -> int:
    """Into how many bands of kernel rows :func:`row_split_conv2d` splits a convolution (1: it runs whole).

    The most bands (a divisor of the kernel's height) whose output channels still fit one oneDNN block, for
    inputs of at least a block's channels: with fewer (``starry_light``'s 8) summing the bands costs more than
    the convolution saves (9x9, 8 channels to RGB, bf16, 640x360: 21 ms whole, 24 ms in bands).
    """
    if in_channels < ONEDNN_CHANNEL_BLOCK:
        return 1
    fitting = [parts for parts in range(2, kernel_size + 1) if kernel_size % parts == 0]
    fitting = [parts for parts in fitting if out_channels * parts <= ONEDNN_CHANNEL_BLOCK]
    return max(fitting, default=1)


def row_split_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, parts: int) -> torch.Tensor:
    """``F.conv2d(x, weight, bias)`` (stride 1, no padding) as one convolution with ``parts`` times the output
    channels, each band of kernel rows giving its own, summed over the bands shifted by their rows.

    A 9x9 convolution from 32 channels to RGB at 640x360 on a 2-core Xeon: in bf16 26-34 ms whole, 13 ms in
    three bands (10-13 ms compiled), in fp32 101 ms and 38 ms, as oneDNN fills its 16-channel blocks with 9
    channels instead of 3. The bands are summed in fp32 (fp64 for fp64).
    """
    out_channels, in_channels, rows, columns = weight.shape
    band = rows // parts
    banded = weight.view(out_channels, in_channels, parts, band, columns).transpose(1, 2)
    partial = F.conv2d(x, banded.reshape(out_channels * parts, in_channels, band, columns))
    partial = partial.unflatten(1, (out_channels, parts))
    height = x.shape[-2] - rows + 1
    accumulate = torch.float64 if x.dtype == torch.float64 else torch.float32
    total = partial[:, :, 0, :height].to(accumulate)
    for part in range(1, parts):
        total = total + partial[:, :, part, part * band : part * band + height].to(accumulate)
    if bias is not None:
        total = total + bias.to(accumulate)[:, None, None]
    return total.to(x.dtype)


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
