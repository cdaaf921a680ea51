"""Tiled inference: tiled output against the untiled one, seams, the memory planner, the stage option."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SHARED_DATA
from PIL import Image

from streamstyle.filters import find_filter
from streamstyle.frames import FrameBatch
from streamstyle.graph import format_graph
from streamstyle.models import Johnson, JohnsonIN
from streamstyle.stages import stylize, tiling
from streamstyle.stages.stylize import Stylize
from streamstyle.stages.tiling import MIN_TILE, TilePlan, forward_bytes_per_pixel, plan_tiles, tiled_forward

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "sample.jpg"
CHICAGO = SHARED_DATA / "content" / "chicago.jpg"
SIZE = (320, 224)
"""Test frames (width, height): with tile 192 (overlap and margin 32) a 2 x 3 grid, one row seam
and two column seams, while the tiled starry pass stays a few seconds on one CPU thread."""
TILE = 192
STARRY_PEAK_BYTES_PER_PIXEL = 1021
"""Peak RSS growth of an untiled fp32 starry forward on the CPU, per pixel (960x540, measured)."""


def photo(path: Path, size: tuple[int, int] = SIZE) -> torch.Tensor:
    """A real photo resized to ``size``, float RGB ``(1, 3, H, W)`` in [0, 255]."""
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    image = Image.open(path).convert("RGB").resize(size, Image.Resampling.BICUBIC)
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)[None].float()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two outputs as written to uint8 (clamped and rounded)."""
    mse = (a.clamp(0, 255).round() - b.clamp(0, 255).round()).square().mean().item()
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


@pytest.fixture(scope="module")
def starry() -> torch.nn.Module:
    return find_filter("starry").load_model()


@pytest.fixture(scope="module")
def starry_outputs(starry: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Untiled and tiled starry output for the sample photo."""
    frames = photo(SAMPLE)
    with torch.inference_mode():
        untiled = starry(frames)
    return untiled, tiled_forward(starry, frames, tile=TILE)


def test_starry_tiled_matches_untiled_on_sample(starry_outputs: tuple[torch.Tensor, torch.Tensor]) -> None:
    untiled, tiled = starry_outputs
    assert tiled.shape == untiled.shape
    assert psnr(tiled, untiled) >= 40


def test_starry_tiled_matches_untiled_on_chicago(starry: torch.nn.Module) -> None:
    frames = photo(CHICAGO)
    with torch.inference_mode():
        untiled = starry(frames)
    assert psnr(tiled_forward(starry, frames, tile=TILE), untiled) >= 40


def test_no_step_at_seams(starry_outputs: tuple[torch.Tensor, torch.Tensor]) -> None:
    # every row and column boundary: mean |difference| across it, tiled against untiled; a
    # seam shows as a boundary where the tiled output jumps more than the untiled one does
    untiled, tiled = (y.clamp(0, 255) for y in starry_outputs)
    for dim in (2, 3):
        steps = [y.diff(dim=dim).abs().mean(dim=[d for d in range(4) if d != dim]) for y in (tiled, untiled)]
        assert (steps[0] - steps[1]).max().item() < 0.5, f"a step across dim {dim}"


def random_johnson() -> Johnson:
    """Johnson (BatchNorm) with one residual block (receptive-field radius 25 px < the margin
    32), random weights and running statistics, in eval mode."""
    torch.manual_seed(0)
    model = Johnson(residual_blocks=1).eval()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    return model


def test_batchnorm_network_tiles_exactly() -> None:
    model, frames = random_johnson(), photo(SAMPLE)
    with torch.inference_mode():
        untiled = model(frames)
    torch.testing.assert_close(tiled_forward(model, frames, tile=TILE), untiled, atol=1e-3, rtol=0)


def test_margin_below_receptive_field_is_not_exact() -> None:
    """The exactness test above can fail: too little context changes the output."""
    model, frames = random_johnson(), photo(SAMPLE)
    with torch.inference_mode():
        untiled = model(frames)
    assert (tiled_forward(model, frames, tile=TILE, margin=4) - untiled).abs().max() > 1e-2


def test_instancenorm_network_gets_whole_frame_statistics() -> None:
    torch.manual_seed(0)
    model = JohnsonIN(width=8, residual_blocks=1).eval()
    frames = photo(SAMPLE)
    with torch.inference_mode():
        untiled = model(frames)
    torch.testing.assert_close(tiled_forward(model, frames, tile=TILE), untiled, atol=1e-3, rtol=0)
    assert not any("forward" in vars(m) for m in model.modules()), "the InstanceNorm layers are restored"


class Passthrough(torch.nn.Module):
    """Returns its input: the tiled output is then the blend weights' sum times the frame."""

    stride = 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()


@pytest.mark.parametrize("height", [133, 141, 200, 301])
def test_blend_weights_cover_every_pixel_once(height: int) -> None:
    frames = torch.rand(2, 3, height, height + 57)
    torch.testing.assert_close(tiled_forward(Passthrough(), frames, tile=MIN_TILE), frames)


def test_tile_smaller_than_overlap_and_margin_is_refused(starry: torch.nn.Module) -> None:
    with pytest.raises(ValueError, match="smaller than"):
        tiled_forward(starry, torch.zeros(1, 3, 300, 300), tile=MIN_TILE - 4)


def test_planner_tiles_8k_under_a_small_budget_and_not_640x360() -> None:
    budget = 4 * 2**30  # 8K frame buffers take 2.1 GB of it
    per_pixel = 1600.0  # about starry's estimate in fp32
    assert plan_tiles(1, 360, 640, bytes_per_pixel=per_pixel, budget=budget) is None
    plan = plan_tiles(1, 4320, 7680, bytes_per_pixel=per_pixel, budget=budget)
    assert plan is not None and plan.chunk == 1 and plan.tile is not None
    assert MIN_TILE <= plan.tile < 4320 and plan.tile % 4 == 0
    assert plan.tile**2 * per_pixel + 4320 * 7680 * tiling.FRAME_BYTES_PER_PIXEL <= budget


def test_planner_splits_a_batch_before_tiling() -> None:
    per_frame = 1080 * 1920 * 1000.0
    assert plan_tiles(4, 1080, 1920, bytes_per_pixel=1000.0, budget=int(2.5 * per_frame)) == TilePlan(chunk=2)
    with pytest.raises(MemoryError):
        plan_tiles(1, 4320, 7680, bytes_per_pixel=1000.0, budget=2**20)


def test_memory_estimate_covers_the_measured_peak(starry: torch.nn.Module) -> None:
    estimate = forward_bytes_per_pixel(starry, device=torch.device("cpu"), dtype=torch.float32)
    assert STARRY_PEAK_BYTES_PER_PIXEL <= estimate <= 3 * STARRY_PEAK_BYTES_PER_PIXEL


def batch_of(width: int, height: int) -> FrameBatch:
    frames = photo(SAMPLE, (width, height)).round().to(torch.uint8)
    return FrameBatch(pixels=frames, pts=torch.zeros(1, dtype=torch.int64), time_base=Fraction(1, 25))


def test_stage_automatic_tiling_is_a_no_op_at_ordinary_sizes(
    tiny_filter: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> torch.Tensor:
        raise AssertionError("run_plan called for a 640x360 frame")

    monkeypatch.setattr(stylize, "run_plan", refuse)
    assert Stylize("tiny")(batch_of(640, 360)).pixels.shape == (1, 3, 360, 640)


def test_stage_tiles_when_memory_is_short_or_asked(tiny_filter: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    batch = batch_of(*SIZE)
    untiled = Stylize("tiny", tile="off")(batch).pixels.float()
    asked = Stylize("tiny", tile=MIN_TILE)
    assert format_graph([asked]) == f"stylize=tiny:tile={MIN_TILE}"
    assert (asked(batch).pixels.float() - untiled).abs().max() <= 1

    plans: list[TilePlan] = []
    run_plan = tiling.run_plan

    def recording_run_plan(model: torch.nn.Module, frames: torch.Tensor, plan: TilePlan) -> torch.Tensor:
        plans.append(plan)
        return run_plan(model, frames, plan)

    # memory for a 180-pixel tile at 1000 bytes per pixel, not for the whole 320x224 frame
    budget = 180**2 * 1000 + SIZE[0] * SIZE[1] * tiling.FRAME_BYTES_PER_PIXEL
    monkeypatch.setattr(stylize, "forward_bytes_per_pixel", lambda model, device, dtype: 1000.0)
    monkeypatch.setattr(stylize, "available_memory", lambda device: int(budget / tiling.MEMORY_FRACTION))
    monkeypatch.setattr(stylize, "run_plan", recording_run_plan)
    assert (Stylize("tiny")(batch).pixels.float() - untiled).abs().max() <= 1
    assert plans == [TilePlan(chunk=1, tile=180)]
