"""Content photos for training, served as random crops in an order fixed by the seed.

Which photo and crop a batch gets is a pure function of (seed, step), so resuming at a step
continues the exact data sequence with no sampler state to save.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from streamstyle.errors import InvalidOptionError
from streamstyle.io.media import IMAGE_SUFFIXES


class ContentImages:
    """Photos under ``folder`` (recursively) as square crops, RGB float in [0, 255].

    Each photo is resized so its short side is ``crop`` (times a random factor up to 1.25),
    then cropped at a random place and flipped at random.

    Raises:
        InvalidOptionError: the folder holds no images.
    """

    def __init__(self, folder: str | Path, crop: int, *, seed: int = 0) -> None:
        self.folder = Path(folder)
        self.files = sorted(p for p in self.folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise InvalidOptionError(f"no training images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {self.folder}")
        self.crop = crop
        self.seed = seed

    def __len__(self) -> int:
        return len(self.files)

    def batch(self, step: int, batch_size: int) -> torch.Tensor:
        """The batch of training step ``step`` (0-based): ``(batch_size, 3, crop, crop)``."""
        return torch.stack([self.item(step * batch_size + k) for k in range(batch_size)])

    def item(self, index: int) -> torch.Tensor:
        """The ``index``-th crop of the whole sequence (epochs follow each other, each reshuffled)."""
        epoch, position = divmod(index, len(self.files))
        order = torch.randperm(len(self.files), generator=torch.Generator().manual_seed(self.seed + epoch))
        rng = np.random.default_rng([self.seed, index])
        with Image.open(self.files[int(order[position])]) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
        scale = self.crop * rng.uniform(1.0, 1.25) / min(image.size)
        size = (max(self.crop, round(image.width * scale)), max(self.crop, round(image.height * scale)))
        image = image.resize(size, Image.BICUBIC)
        left = int(rng.integers(0, image.width - self.crop + 1))
        top = int(rng.integers(0, image.height - self.crop + 1))
        image = image.crop((left, top, left + self.crop, top + self.crop))
        if rng.random() < 0.5:
            image = ImageOps.mirror(image)
        return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float()
