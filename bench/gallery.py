"""The filters' contact sheet: each filter on the same photos, one row per filter.

    python bench/gallery.py [-o filters/gallery.jpg] [--size 256] [FILTER ...]

Columns are the photos (``samples/sample.jpg`` and two classic content images of
../shared/data/content, read in place and never shipped on their own); the first row is the
photos themselves. Every filter runs at ``--size`` pixels on the short side, in fp32 on the CPU.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from streamstyle.filters import find_filter, list_filters
from streamstyle.io.media import read_image

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
PHOTOS = [ROOT / "samples" / "sample.jpg", DATA / "content" / "chicago.jpg", DATA / "content" / "tubingen.jpg"]
LABEL = 110


def tile(path: Path, size: int) -> np.ndarray:
    """A photo centre-cropped to a square and resized to ``size`` pixels."""
    image = Image.fromarray(read_image(path))
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return np.asarray(image.crop((left, top, left + side, top + side)).resize((size, size), Image.LANCZOS))


@torch.no_grad()
def stylise(name: str, photos: list[np.ndarray]) -> list[np.ndarray]:
    """The filter's network on each photo (RGB uint8)."""
    model = find_filter(name).load_model()
    frames = torch.from_numpy(np.stack(photos)).permute(0, 3, 1, 2).float()
    return list(model(frames).clamp(0, 255).round().byte().permute(0, 2, 3, 1).numpy())


def row(label: str, images: list[np.ndarray]) -> np.ndarray:
    height = images[0].shape[0]
    caption = Image.new("RGB", (LABEL, height), "white")
    ImageDraw.Draw(caption).text((8, height // 2 - 6), label, fill="black")
    return np.concatenate([np.asarray(caption), *images], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("filters", nargs="*", help="default: every installed filter")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "filters" / "gallery.jpg")
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    missing = [path for path in PHOTOS if not path.is_file()]
    if missing:
        raise SystemExit(f"missing photo {missing[0]} (../shared/data is read in place)")
    photos = [tile(path, args.size) for path in PHOTOS]
    names = args.filters or [item.name for item in list_filters()]
    rows = [row("photo", photos)] + [row(name, stylise(name, photos)) for name in names]
    Image.fromarray(np.concatenate(rows, axis=0)).save(args.output, quality=88)
    print(f"wrote {args.output}: {len(names)} filters x {len(photos)} photos at {args.size} px")


if __name__ == "__main__":
    main()
