"""VGG loss networks: torchvision's VGG16 (the papers') or a local VGG-19, frozen.

Weights come from torchvision's weights API (torch hub cache under ``$TORCH_HOME``, download
when online) or a local file: a torchvision-layout VGG16/VGG-19 state dict, or the
"normalised" VGG-19 of Gatys et al. / AdaIN (keys ``0`` ... ``38``: a 1x1 RGB->BGR*255-mean
conv, then the 3x3 convs; any dtype).
"""

from __future__ import annotations

import contextlib
import io
import zipfile
from collections.abc import Iterable
from pathlib import Path
from urllib.error import URLError

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.models import VGG16_Weights

from streamstyle.errors import WeightsUnavailableError

VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512))
VGG19_BLOCKS = ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512))
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class LossNetwork(nn.Module):
    """VGG conv blocks 1-4 as a frozen feature extractor.

    Args:
        blocks: output channels of each conv, per block (2x2 max-pool between blocks).
        preprocess: maps RGB in [0, 1] to what the first conv expects.
        name: description for metadata (``VGG16 (torchvision, ImageNet)``).
        padding: ``zeros`` (torchvision) or ``reflect`` (the normalised VGG-19).

    Attributes:
        content_layer: the layer content is compared at (relu2_2).
        style_layers: the four layers of the style Gram matrices.

    Shape:
        RGB ``(N, 3, H, W)`` in [0, 255] -> ``{layer: (N, C, h, w)}`` for the asked layers.
    """

    def __init__(self, blocks: tuple[tuple[int, ...], ...], preprocess: nn.Module, name: str, padding: str) -> None:
        super().__init__()
        self.name = name
        self.preprocess = preprocess
        self.padding = padding
        self.convs = nn.ModuleDict()
        channels = 3
        for block, widths in enumerate(blocks, start=1):
            for index, width in enumerate(widths, start=1):
                self.convs[f"relu{block}_{index}"] = nn.Conv2d(channels, width, 3)
                channels = width
        self.content_layer = "relu2_2"
        self.style_layers = ("relu1_2", "relu2_2", f"relu3_{len(blocks[2])}", f"relu4_{len(blocks[3])}")
        self.eval().requires_grad_(False)

    def forward(self, images: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        wanted = set(layers)
        features: dict[str, torch.Tensor] = {}
        x = self.preprocess(images / 255)
        block = 1
        for name, conv in self.convs.items():
            if int(name[4]) != block:
                x = F.max_pool2d(x, 2, ceil_mode=True)
                block = int(name[4])
            x = F.relu(conv(F.pad(x, (1, 1, 1, 1), mode="reflect" if self.padding == "reflect" else "constant")))
            if name in wanted:
                features[name] = x
                if len(features) == len(wanted):
                    break
        return features

    def train(self, mode: bool = True) -> LossNetwork:
        """Always in eval mode: the loss network never trains."""
        return super().train(False)


class ImageNetNormalize(nn.Module):
    """RGB in [0, 1] -> ImageNet mean/std normalised (torchvision's VGG input)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def load_loss_network(path: str | Path | None = None) -> LossNetwork:
    """The loss network: torchvision's VGG16 (``path=None``) or the VGG in a local file.

    Raises:
        WeightsUnavailableError: offline with nothing cached and no file, or a file that is
            neither layout.
    """
    if path is None:
        return _from_torchvision_layout(_official_vgg16(), "VGG16 (torchvision IMAGENET1K_V1)")
    file = Path(path)
    if not file.is_file():
        raise WeightsUnavailableError(f"VGG weights file not found: {file}")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises several kinds for a bad file
        with open(file, "rb") as handle:
            zipped = zipfile.is_zipfile(handle)  # torch.save's format; older files are a pickle (0x80 first)
            saved = zipped or (handle.seek(0) == 0 and handle.read(1) == b"\x80")
        kind = (
            "it holds Python objects, not only tensors (a pickled model?); give a state dict of tensors"
            if saved and "Weights only load failed" in str(exc)
            else "it is not a file torch.save wrote"
        )
        raise WeightsUnavailableError(f"cannot read VGG weights {file}: {kind}") from None
    if not isinstance(state, dict):
        raise WeightsUnavailableError(f"{file} holds a {type(state).__name__}, not a state dict of VGG weights")
    if "features.0.weight" in state:
        return _from_torchvision_layout(state, f"VGG (torchvision layout, {file.name})")
    if "0.weight" in state and tuple(state["0.weight"].shape) == (3, 3, 1, 1):
        return _from_normalised_vgg19(state, f"VGG-19 normalised (Gatys et al.), {file.name}")
    raise WeightsUnavailableError(f"{file} is neither a torchvision VGG nor a normalised VGG-19 state dict")


def _official_vgg16() -> dict[str, torch.Tensor]:
    weights = VGG16_Weights.IMAGENET1K_V1
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # torch.hub announces downloads on stdout
            return weights.get_state_dict(progress=False, check_hash=True)
    except (URLError, OSError, RuntimeError) as exc:
        raise WeightsUnavailableError(
            f"no VGG16 weights: not in the torch hub cache ({cached}) and the download failed "
            f"({getattr(exc, 'reason', exc)}); put {cached.name} there (see TORCH_HOME) or pass --vgg PATH "
            "(a VGG16/VGG-19 state dict, or the normalised VGG-19)"
        ) from None


def _conv_tensors(state: dict[str, torch.Tensor], prefix: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, bias) of the 3x3 convs under ``prefix``, in layer order."""
    indices = sorted(
        int(key[len(prefix) :].split(".")[0])
        for key, value in state.items()
        if key.startswith(prefix) and key.endswith(".weight") and value.ndim == 4 and value.shape[-1] == 3
    )
    return [(state[f"{prefix}{i}.weight"].float(), state[f"{prefix}{i}.bias"].float()) for i in indices]


def _fill(network: LossNetwork, convs: list[tuple[torch.Tensor, torch.Tensor]]) -> LossNetwork:
    targets = list(network.convs.values())
    if len(convs) < len(targets):
        raise WeightsUnavailableError(f"the VGG file has {len(convs)} 3x3 convs, {len(targets)} are needed")
    for conv, (weight, bias) in zip(targets, convs, strict=False):
        if conv.weight.shape != weight.shape:
            raise WeightsUnavailableError(f"VGG conv shape {tuple(weight.shape)} where {tuple(conv.weight.shape)} fits")
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
    return network


@torch.no_grad()
def _from_torchvision_layout(state: dict[str, torch.Tensor], name: str) -> LossNetwork:
    convs = _conv_tensors(state, "features.")
    blocks = VGG19_BLOCKS if len(convs) >= 16 else VGG16_BLOCKS
    return _fill(LossNetwork(blocks, ImageNetNormalize(), name, padding="zeros"), convs)


@torch.no_grad()
def _from_normalised_vgg19(state: dict[str, torch.Tensor], name: str) -> LossNetwork:
    preprocess = nn.Conv2d(3, 3, 1)
    preprocess.weight.copy_(state["0.weight"].float())
    preprocess.bias.copy_(state["0.bias"].float())
    return _fill(LossNetwork(VGG19_BLOCKS, preprocess, name, padding="reflect"), _conv_tensors(state, ""))
