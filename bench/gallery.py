"""The filters' contact sheet: each filter on the same photos, one row per filter.

    python bench/gallery.py [-o filters/gallery.jpg] [--size 256] [FILTER ...]

Columns are three views of the bundled, public-domain ``samples/sample.jpg`` (the whole photo,
the face, the shoulder and rocket: the classic content images of ../shared/data may not ship,
not even stylised); the first row is the views themselves. Every filter runs at ``--size``
pixels, in fp32 on the CPU.
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
SAMPLE = ROOT / "samples" / "sample.jpg"
VIEWS = ((0.0, 0.0, 1.0), (0.25, 0.0, 0.55), (0.45, 0.4, 0.55))
"""Square views of the sample: left and top of the square as fractions of the width and height, and its side
as a fraction of the short side."""
LABEL = 110


def view(image: Image.Image, left: float, top: float, side: float, size: int) -> np.ndarray:
    """A square of ``image`` (see :data:`VIEWS`) resized to ``size`` pixels."""
    pixels = round(min(image.size) * side)
    x = min(round(image.width * left), image.width - pixels)
    y = min(round(image.height * top), image.height - pixels)
    return np.asarray(image.crop((x, y, x + pixels, y + pixels)).resize((size, size), Image.LANCZOS))


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
    sample = Image.fromarray(read_image(SAMPLE))
    photos = [view(sample, *where, args.size) for where in VIEWS]
    names = args.filters or [item.name for item in list_filters()]
    rows = [row("photo", photos)] + [row(name, stylise(name, photos)) for name in names]
    Image.fromarray(np.concatenate(rows, axis=0)).save(args.output, quality=88)
    print(f"wrote {args.output}: {len(names)} filters x {len(photos)} views at {args.size} px")


if __name__ == "__main__":
    main()
