"""Johnson et al. feed-forward style networks (seeds 000 and 001).

``JohnsonIN`` is the variant of seed 001 (and pytorch/examples ``fast_neural_style``):
InstanceNorm, reflection padding, nearest-neighbour upsampling followed by a convolution
instead of a transposed convolution (no checkerboard artefacts). ``Johnson`` is the network
of seed 000 Fig. 5(a): BatchNorm, zero padding, transposed convolutions, scaled tanh output.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from streamstyle.models.layers import ConvLayer, InstanceNorm2d, ResidualBlock, TransposedConvLayer, UpsampleConvLayer
from streamstyle.models.padding import pad_to_stride


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

    __constants__ = ("stride", "min_size")  # so TorchScript compiles them in
    stride = 4
    min_size = 16  # smaller inputs are padded up, so every reflection pad inside has room

    def __init__(self, *, width: int = 32, residual_blocks: int = 5) -> None:
        super().__init__()
        w1, w2, w3 = width, 2 * width, 4 * width
        self.conv1 = ConvLayer(3, w1, 9)
        self.in1 = InstanceNorm2d(w1)
        self.conv2 = ConvLayer(w1, w2, 3, stride=2)
        self.in2 = InstanceNorm2d(w2)
        self.conv3 = ConvLayer(w2, w3, 3, stride=2)
        self.in3 = InstanceNorm2d(w3)
        self.residuals = nn.Sequential(*(ResidualBlock(w3) for _ in range(residual_blocks)))
        self.deconv1 = UpsampleConvLayer(w3, w2, 3)
        self.in4 = InstanceNorm2d(w2)
        self.deconv2 = UpsampleConvLayer(w2, w1, 3)
        self.in5 = InstanceNorm2d(w1)
        self.deconv3 = ConvLayer(w1, 3, 9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        y = pad_to_stride(x, self.stride, self.min_size)
        y = F.relu(self.in1(self.conv1(y)))
        y = F.relu(self.in2(self.conv2(y)))
        y = F.relu(self.in3(self.conv3(y)))
        y = self.residuals(y)
        y = F.relu(self.in4(self.deconv1(y)))
        y = F.relu(self.in5(self.deconv2(y)))
        y = self.deconv3(y)
        return y[..., :height, :width]


class Johnson(nn.Module):
    """The network of Johnson et al. as tabulated in seed 000 Fig. 5(a).

    9x9/1 3->32, 3x3/2 32->64, 3x3/2 64->128, 5 residual blocks of two 3x3 128->128,
    transposed 3x3/2 128->64 and 64->32, 9x9/1 32->3; BatchNorm and ReLU after every
    convolution but the last, whose output goes through ``150 * tanh + 127.5``.
    Conv parameters: 1,676,035.

    Shape:
        RGB ``(N, 3, H, W)`` in [0, 255] -> RGB ``(N, 3, H, W)`` in [-22.5, 277.5]; any size.
    """

    __constants__ = ("stride", "min_size")  # so TorchScript compiles them in
    stride = 4
    min_size = 16

    def __init__(self, *, residual_blocks: int = 5) -> None:
        super().__init__()
        self.conv1 = ConvLayer(3, 32, 9, padding="zeros")
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = ConvLayer(32, 64, 3, stride=2, padding="zeros")
        self.bn2 = nn.BatchNorm2d(64)
        self.conv3 = ConvLayer(64, 128, 3, stride=2, padding="zeros")
        self.bn3 = nn.BatchNorm2d(128)
        self.middle = self.build_middle(residual_blocks)
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
        y = self.middle(y)
        y = F.relu(self.bn4(self.deconv1(y)))
        y = F.relu(self.bn5(self.deconv2(y)))
        y = 150.0 * torch.tanh(self.deconv3(y)) + 127.5
        return y[..., :height, :width]

    @staticmethod
    def build_middle(blocks: int) -> nn.Module:
        """The 128-channel body between the down and up convolutions: residual blocks."""
        return nn.Sequential(*(ResidualBlock(128, norm="batch", padding="zeros") for _ in range(blocks)))
