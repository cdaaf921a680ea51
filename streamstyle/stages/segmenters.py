"""Semantic segmentation networks from torchvision, and where their weights come from.

Weights are looked up the way torchvision does (its weights API, the torch hub cache under
``$TORCH_HOME``, download when online), or read from a local file; an official file name is
checked against the official sha256.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args
from urllib.error import URLError

import torch
from torch import nn

from streamstyle.checksum import file_sha256
from streamstyle.errors import InvalidOptionError, WeightsUnavailableError

SegmenterName = Literal[
    "deeplabv3_mobilenet_v3_large", "deeplabv3_resnet50", "deeplabv3_resnet101", "lraspp_mobilenet_v3_large"
]
SEGMENTERS: tuple[str, ...] = get_args(SegmenterName)

OFFICIAL_SHA256 = {
    "lraspp_mobilenet_v3_large-d234d4ea.pth": "d234d4eae9d55d5f76de18b77cf0dc62c66fe5c5482758209d00f950c92bb280",
    "deeplabv3_mobilenet_v3_large-fc3c493d.pth": "fc3c493d68e89cc31ef488c803d5d7dd2f3190fb570598faa49fef69be8e5e70",
    "deeplabv3_resnet50_coco-cd0a2569.pth": "cd0a25694c4a0f7106b38f4938bf90a874f2f241cc410b8f63c7024399538f06",
}
"""Full sha256 of torchvision's official files (torchvision itself checks only an 8-digit prefix)."""

RANDOM_WEIGHTS = "random"
"""The ``weights`` value for a randomly initialised network: meaningless masks, for tests and timing."""


@dataclass(frozen=True)
class Segmenter:
    """A segmentation network and what it knows.

    Attributes:
        name: torchvision builder name.
        model: the network in eval mode; ``model(x)["out"]`` gives class logits.
        categories: class names, index = output channel (``weights.meta["categories"]``).
        mean, std: input normalisation for RGB in [0, 1].
    """

    name: str
    model: nn.Module
    categories: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def class_indices(self, classes: tuple[str, ...]) -> list[int]:
        """Output channels of the named classes.

        Raises:
            InvalidOptionError: a name that is not a category, with the list of valid ones.
        """
        unknown = [c for c in classes if c not in self.categories]
        if unknown:
            known = ", ".join(c for c in self.categories if not c.startswith("__"))
            raise InvalidOptionError(f"unknown class {unknown[0]!r} for {self.name}; classes: {known}")
        return [self.categories.index(c) for c in classes]


def load_segmenter(name: str, *, weights: str | Path | None = None) -> Segmenter:
    """Build a torchvision segmentation network with pretrained weights.

    Args:
        name: one of :data:`SEGMENTERS`.
        weights: ``None`` for the official weights through torchvision (hub cache, then
            download), a path to a ``.pth`` state dict, or ``"random"``.

    Raises:
        InvalidOptionError: an unknown network name.
        WeightsUnavailableError: no weights offline, a missing file, or a checksum mismatch.
    """
    if name not in SEGMENTERS:
        raise InvalidOptionError(f"unknown segmenter {name!r}; use one of: {', '.join(SEGMENTERS)}")
    from torchvision.models import get_model_builder, get_model_weights  # 1.6 s: only where a segmenter runs

    official = get_model_weights(name).DEFAULT
    options = {"weights": None, "weights_backbone": None, "num_classes": len(official.meta["categories"])}
    if name.startswith("deeplabv3"):
        options["aux_loss"] = False
    model = get_model_builder(name)(**options)
    if weights != RANDOM_WEIGHTS:
        state = _official_state(name, official) if weights is None else _file_state(Path(weights))
        state = {key: value for key, value in state.items() if not key.startswith("aux_classifier.")}
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise WeightsUnavailableError(f"weights do not fit {name}: {str(exc).splitlines()[0]}") from None
    transforms = official.transforms()
    return Segmenter(
        name, model.eval().requires_grad_(False), tuple(official.meta["categories"]),
        tuple(transforms.mean), tuple(transforms.std),
    )  # fmt: skip


def _official_state(name: str, official: object) -> dict[str, torch.Tensor]:
    url = official.url  # type: ignore[attr-defined]
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # torch.hub announces downloads on stdout
            return official.get_state_dict(progress=False, check_hash=True)  # type: ignore[attr-defined]
    except (URLError, OSError, RuntimeError) as exc:
        raise WeightsUnavailableError(
            f"no weights for {name}: not in the torch hub cache ({cached}) and the download failed "
            f"({getattr(exc, 'reason', exc)}); put {cached.name} there (see TORCH_HOME) or pass --seg-weights PATH"
        ) from None


def _file_state(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise WeightsUnavailableError(f"segmentation weights file not found: {path}")
    expected = OFFICIAL_SHA256.get(path.name)
    if expected is not None and file_sha256(path) != expected:
        raise WeightsUnavailableError(f"{path} is not the official {path.name}: sha256 mismatch (corrupt download?)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises several kinds for a bad file
        raise WeightsUnavailableError(f"cannot read segmentation weights {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(state, dict):
        raise WeightsUnavailableError(f"{path} does not hold a state dict")
    return state
