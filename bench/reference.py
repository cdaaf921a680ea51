"""Bundled filters against Logan Engstrom's published Johnson networks and Gatys optimisation, by the numbers.

    python bench/reference.py [FILTER ...] [--size 512] [--gatys-images 0]
    python bench/reference.py starry wave --images ../shared/data/content/bsds500/test --limit 50 --gatys-images 2
    python bench/reference.py stylebank:wave stylebank:scream   # banks of a StyleBank filter

For each filter (and his network of the same painting, where there is one: wave, scream, udnie)
prints the mean content, style and motif distance of the outputs (``streamstyle evaluate``'s
measures, unweighted; the motif distance sees the painting's large shapes, which the style
distance barely does) on the classic content images or ``--images``, each measured against our
filter's style image at the size it was trained with, so both networks are scored by the same
yardstick; with ``--gatys-images K``, also Gatys optimisation (L-BFGS, the filter's loss) on the
first K images, the quality a feed-forward network approximates. A StyleBank filter's bank,
``FILTER:BANK``, is measured against the painting of the bundled filter named like the bank.
His networks live in ../shared/data/reference and are comparison-only: this script reads them in
place and never converts or ships them. Also writes side-by-side images (content | ours | his) to --out for looking at.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from streamstyle.benchmark import psnr
from streamstyle.filters import find_filter
from streamstyle.models.stylebank import SingleStyleNet
from streamstyle.train.evaluate import Scores, filter_loss, motif_loss, score_gatys, score_network
from streamstyle.train.gatys import read_image

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PAIRS = {"wave": "lengstrom_wave", "scream": "lengstrom_scream", "udnie": "lengstrom_udnie"}
CONTENT = ["chicago.jpg", "amber.jpg", "golden_gate.jpg", "hoovertowernight.jpg", "stata.jpg", "tubingen.jpg"]


class EngstromNet(nn.Module):
    """fast-style-transfer's network from its TF variables (layout in ../shared/data/MANIFEST.md)."""

    def __init__(self, variables: dict[str, torch.Tensor]) -> None:
        super().__init__()
        values = [variables["Variable" + (f"_{i}" if i else "")] for i in range(len(variables))]
        self.layers = [tuple(values[i : i + 3]) for i in range(0, len(values), 3)]  # (weight, shift, scale)

    def _conv(self, x: torch.Tensor, index: int, stride: int = 1, relu: bool = True) -> torch.Tensor:
        weight, shift, scale = self.layers[index]
        kernel = weight.shape[0]
        x = F.pad(x, [*_same(x.shape[3], kernel, stride), *_same(x.shape[2], kernel, stride)])
        x = F.conv2d(x, weight.permute(3, 2, 0, 1), stride=stride)
        return self._norm(x, shift, scale, relu)

    def _up(self, x: torch.Tensor, index: int) -> torch.Tensor:
        weight, shift, scale = self.layers[index]
        height, width = x.shape[-2:]
        x = F.conv_transpose2d(x, weight.permute(3, 2, 0, 1), stride=2)[..., : 2 * height, : 2 * width]
        return self._norm(x, shift, scale, relu=True)

    @staticmethod
    def _norm(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor, relu: bool) -> torch.Tensor:
        mean, var = x.mean((2, 3), keepdim=True), x.var((2, 3), keepdim=True, unbiased=False)
        x = (x - mean) / torch.sqrt(var + 1e-3) * scale[:, None, None] + shift[:, None, None]
        return F.relu(x) if relu else x

    def forward(self, x: torch.Tensor, crop: bool = True) -> torch.Tensor:
        """Stylise RGB [0, 255]; ``crop`` cuts the rows/columns that odd sizes add back to the input's size."""
        height, width = x.shape[-2:]
        x = self._conv(self._conv(self._conv(x, 0), 1, stride=2), 2, stride=2)
        for block in range(5):
            first = 3 + 2 * block
            x = x + self._conv(self._conv(x, first), first + 1, relu=False)
        x = self._up(self._up(x, 13), 14)
        x = torch.tanh(self._conv(x, 15, relu=False)) * 150 + 127.5
        return x[..., :height, :width] if crop else x


def _same(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF "SAME" padding (before, after) of one dimension: any odd extra goes after."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def load_engstrom(name: str) -> EngstromNet:
    """His network ``name`` (e.g. ``lengstrom_wave``), in eval mode."""
    return EngstromNet(torch.load(DATA / "reference" / f"{name}_tf_layout.pth", weights_only=True)).eval()


def check_loader() -> tuple[float, int]:
    """PSNR of our run of his wave network on chicago.jpg against his published output.

    Uncropped, ours comes out 476 rows high for the 474 of the input (stride 2 rounds up
    twice); his published image is 474 rows, so the best of the row offsets 0-2 is taken
    (returned too).
    """
    published = np.asarray(Image.open(DATA / "reference" / "outputs" / "lengstrom_chicago_wave.jpg").convert("RGB"))
    content = torch.from_numpy(np.asarray(Image.open(DATA / "content" / "chicago.jpg").convert("RGB")).copy())
    with torch.inference_mode():
        out = load_engstrom("lengstrom_wave")(content.permute(2, 0, 1)[None].float(), crop=False)
    mine = out[0].clamp(0, 255).round().byte().permute(1, 2, 0)
    height, width = published.shape[:2]
    return max((psnr(mine[dy : dy + height, :width], torch.from_numpy(published.copy())), dy) for dy in range(3))


def side_by_side(files: list[Path], networks: list[nn.Module], size: int) -> np.ndarray:
    """Rows of content | network outputs, as one uint8 image."""
    rows = []
    for file in files:
        content = read_image(file, size)
        with torch.inference_mode():
            tiles = [content, *(network(content).clamp(0, 255) for network in networks)]
        rows.append(torch.cat([tile[..., : content.shape[2], : content.shape[3]] for tile in tiles], dim=3))
    width = max(row.shape[3] for row in rows)
    rows = [F.pad(row, [0, width - row.shape[3]]) for row in rows]
    return torch.cat(rows, dim=2)[0].round().byte().permute(1, 2, 0).numpy()


def figures(scores: Scores) -> str:
    return f"{scores.content:>9.4g} {scores.style:>9.4g} {scores.motif:>9.4g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("filters", nargs="*", default=list(PAIRS), help="our filters to score (default: Engstrom's)")
    parser.add_argument("--images", type=Path, help="content images (default: six classic ones)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N images of --images")
    parser.add_argument("--size", type=int, default=512, help="long side of the content images")
    parser.add_argument("--gatys-images", type=int, default=0, help="also Gatys (L-BFGS) on the first K images")
    parser.add_argument("--gatys-steps", type=int, default=50)
    parser.add_argument("--vgg", default=str(DATA / "weights" / "vgg19_normalised.pth"))
    parser.add_argument("--out", type=Path, default=Path("bench-out/reference"))
    args = parser.parse_args()
    if not (DATA / "reference").is_dir():
        raise SystemExit(f"needs {DATA / 'reference'} (Engstrom's networks)")
    match, offset = check_loader()
    print(f"loader check: his wave on chicago.jpg vs his published output: {match:.1f} dB PSNR (row offset {offset})")
    if args.images is None:
        files = [DATA / "content" / name for name in CONTENT]
    else:
        files = sorted(p for p in args.images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        files = files[: args.limit or None]
    print(f"# {len(files)} images from {args.images or 'the classic set'} at {args.size} px; fp32 on the CPU")
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{'painting':<8} {'network':<22} {'content':>9} {'style':>9} {'motif':>9} {'s/image':>8}")
    for ours in args.filters:
        name, _, bank = ours.partition(":")
        item = find_filter(name)
        model = item.load_model().eval()
        painting = find_filter(bank).style_image if bank else None
        if bank:
            model = SingleStyleNet(model, bank)
        loss = filter_loss(item, args.vgg, torch.device("cpu"), style_image=painting)
        motifs = motif_loss(item, loss, style_image=painting)
        networks = {f"streamstyle {ours}": model}
        if (pair := bank or name) in PAIRS:
            networks[f"Engstrom {PAIRS[pair][10:]}"] = load_engstrom(PAIRS[pair])
        for label, network in networks.items():
            started = time.perf_counter()
            scores = score_network(network, files, loss, motifs, size=args.size)
            seconds = (time.perf_counter() - started) / len(files)
            print(f"{ours:<8} {label:<22} {figures(scores)} {seconds:>8.2f}")
        if args.gatys_images:
            gatys = files[: args.gatys_images]
            started = time.perf_counter()
            scores = score_gatys(gatys, loss, motifs, size=args.size, steps=args.gatys_steps)
            seconds = (time.perf_counter() - started) / len(gatys)
            print(f"{ours:<8} {f'Gatys, {len(gatys)} images':<22} {figures(scores)} {seconds:>8.2f}")
            for label, network in networks.items():
                scores = score_network(network, gatys, loss, motifs, size=args.size)
                print(f"{ours:<8} {label + f', same {len(gatys)}':<22} {figures(scores)}")
        grid = side_by_side(files[:3], list(networks.values()), 384)
        Image.fromarray(grid).save(args.out / f"{ours.replace(':', '-')}.jpg", quality=90)
    print(f"side by side (content | streamstyle | Engstrom): {args.out}/")


if __name__ == "__main__":
    main()
