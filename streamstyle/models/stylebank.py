"""The multi-style generator of Srinath et al. (seed 002), after StyleBank (Chen et al.).

A shared encoder and decoder with one "bank" per style between them. A new style trains only
a new bank (:meth:`StyleBankNet.add_bank`); the shared weights stay untouched. The style is
chosen per call and per batch item, and banks can be mixed with weights (interpolation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from streamstyle.models.layers import ConvLayer, InstanceNorm2d, UpsampleConvLayer
from streamstyle.models.padding import pad_to_stride

StyleChoice = int | str | Sequence[int | str] | Mapping[int | str, float] | torch.Tensor | None


def _conv_in_relu(conv: nn.Module, channels: int) -> nn.Sequential:
    return nn.Sequential(conv, InstanceNorm2d(channels), nn.ReLU())


class StyleBankNet(nn.Module):
    """Shared encoder/decoder with per-style banks (seed 002).

    Encoder: 9x9/2 3->8, 3x3/2 8->16, 3x3/1 16->32. Bank: two 3x3 32->32. Decoder: 3x3 32->16,
    upsample x2 + 3x3 16->8, upsample x2 + 9x9 8->3. InstanceNorm and ReLU after every layer
    but the output. Seed 002 uses "valid" padding and fractional-stride convolutions; here
    padding is reflective and upsampling is nearest+conv (same parameters, exact 4x geometry,
    no checkerboard).

    Args:
        styles: names of the banks, in index order.

    Shape:
        RGB ``(N, 3, H, W)`` in [0, 255] -> RGB ``(N, 3, H, W)`` in about [0, 255]; any size.
        Without banks (``style=None``) it is the plain autoencoder of training step 1.
    """

    __constants__ = ("stride", "min_size")  # so TorchScript compiles them in
    stride = 4
    min_size = 16

    def __init__(self, *, styles: Sequence[str] = ("style",)) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            _conv_in_relu(ConvLayer(3, 8, 9, stride=2), 8),
            _conv_in_relu(ConvLayer(8, 16, 3, stride=2), 16),
            _conv_in_relu(ConvLayer(16, 32, 3), 32),
        )
        self.banks = nn.ModuleDict()
        self.decoder = nn.Sequential(
            _conv_in_relu(ConvLayer(32, 16, 3), 16),
            _conv_in_relu(UpsampleConvLayer(16, 8, 3), 8),
            nn.Upsample(scale_factor=2.0, mode="nearest"),
            ConvLayer(8, 3, 9),
        )
        for name in styles:
            self.add_bank(name)

    @property
    def styles(self) -> list[str]:
        """Bank names in index order."""
        return list(self.banks.keys())

    def add_bank(self, name: str) -> nn.Module:
        """Add a freshly initialised bank called ``name`` and return it; nothing else changes.

        Raises:
            ValueError: the name is taken or not a valid module name.
        """
        if name in self.banks or not name or "." in name:
            raise ValueError(f"bank name {name!r} is taken or invalid")
        bank = nn.Sequential(_conv_in_relu(ConvLayer(32, 32, 3), 32), _conv_in_relu(ConvLayer(32, 32, 3), 32))
        self.banks[name] = bank
        return bank

    def style_weights(self, style: StyleChoice, batch: int) -> torch.Tensor:
        """Mixing weights ``(batch, banks)`` for a style choice.

        ``style`` is a bank index or name (all items), a sequence of them (one per item), a
        mapping ``{bank: weight}`` (interpolation, all items) or a ``(batch, banks)`` tensor.

        Raises:
            KeyError: an unknown bank name or index.
            ValueError: a per-item choice whose length is not the batch size.
        """
        names = self.styles
        weights = torch.zeros(batch, len(names))
        if isinstance(style, torch.Tensor):
            return style.float()
        if isinstance(style, Mapping):
            for key, weight in style.items():
                weights[:, self._index(key, names)] = weight
            return weights
        choices = [style] * batch if isinstance(style, int | str) else list(style or [0])
        if len(choices) != batch:
            raise ValueError(f"{len(choices)} style choices for a batch of {batch}")
        for item, choice in enumerate(choices):
            weights[item, self._index(choice, names)] = 1.0
        return weights

    @staticmethod
    def _index(choice: int | str, names: list[str]) -> int:
        if isinstance(choice, str):
            if choice not in names:
                raise KeyError(f"no bank {choice!r}; banks: {', '.join(names)}")
            return names.index(choice)
        if not 0 <= choice < len(names):
            raise KeyError(f"no bank {choice}; there are {len(names)}")
        return choice

    def forward(self, x: torch.Tensor, style: StyleChoice = 0, *, autoencoder: bool = False) -> torch.Tensor:
        height, width = x.shape[-2:]
        features = self.encoder(pad_to_stride(x, self.stride, self.min_size))
        if not autoencoder:
            weights = self.style_weights(style, x.shape[0]).to(features)
            mixed = torch.zeros_like(features)
            for index, bank in enumerate(self.banks.values()):
                column = weights[:, index]
                if bool(column.any()):
                    mixed = mixed + column.view(-1, 1, 1, 1) * bank(features)
            features = mixed
        return self.decoder(features)[..., :height, :width]


class SingleStyleNet(nn.Module):
    """One bank of a :class:`StyleBankNet` as a plain image-to-image network (for export).

    Shares the modules of the network it comes from.
    """

    __constants__ = ("stride", "min_size")
    stride = 4
    min_size = 16

    def __init__(self, net: StyleBankNet, style: str) -> None:
        super().__init__()
        self.encoder = net.encoder
        self.bank = net.banks[net.styles[StyleBankNet._index(style, net.styles)]]
        self.decoder = net.decoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        features = self.bank(self.encoder(pad_to_stride(x, self.stride, self.min_size)))
        return self.decoder(features)[..., :height, :width]
