"""The denoise stage: a temporal filter along the motion that takes noise out and flicker with it."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from motion_clips import run, translating, with_noise, write_clip

import streamstyle
from streamstyle.errors import GraphSyntaxError, InvalidOptionError
from streamstyle.frames import FrameBatch
from streamstyle.graph import build_graph, format_graph, parse_graph
from streamstyle.stages import Denoise, Scale, Stabilize, Stylize
from streamstyle.stages.stabilize import stability_stages
from streamstyle.temporal.metrics import frames_warping_error


@pytest.fixture
def clean_and_noisy(tmp_path: Path) -> tuple[list[np.ndarray], Path]:
    """A texture sliding 2 px right and 1 px down per frame, and a file of it with camera noise (sigma 6)."""
    clean = translating(16, seed=1)
    return clean, write_clip(tmp_path / "noisy.mkv", with_noise(clean, 6.0, seed=7))


def rms(frames: list[np.ndarray], reference: list[np.ndarray]) -> float:
    """Root mean square difference in grey levels."""
    differences = [np.square(a.astype(np.float32) - b) for a, b in zip(frames, reference, strict=True)]
    return float(np.sqrt(np.mean(differences)))


def batch_of(frames: list[np.ndarray], start: int = 0) -> FrameBatch:
    pixels = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)
    pts = torch.arange(start, start + len(frames))
    return FrameBatch(pixels=pixels, pts=pts, time_base=Fraction(1, 10), source=pixels)


def test_denoised_frames_are_closer_to_the_clean_video(clean_and_noisy: tuple[list[np.ndarray], Path]) -> None:
    clean, path = clean_and_noisy
    noisy = run(path, [])
    denoised = run(path, [Denoise(0.9)])
    assert np.array_equal(denoised[0], noisy[0])  # nothing to average with yet
    # away from the edges, where new content enters, and once the filter has settled: half the noise
    # is left (averaging alone would leave a quarter; the flow's small errors blur the texture a little)
    inside = (slice(8, -8), slice(8, -8))
    assert rms([f[inside] for f in denoised[10:]], [f[inside] for f in clean[10:]]) < 0.65 * rms(
        [f[inside] for f in noisy[10:]], [f[inside] for f in clean[10:]]
    )


def test_denoise_before_the_network_takes_out_the_flicker(tiny_filter: Path, tmp_path: Path) -> None:
    # 4 px per frame, a multiple of the network's stride: the flicker comes from the noise alone
    clean = translating(16, step=(4, 0), seed=1)
    path = write_clip(tmp_path / "noisy.mkv", with_noise(clean, 6.0, seed=7))
    plain = run(path, [Stylize("tiny")])
    steady = run(path, [Denoise(0.9), Stylize("tiny")])
    before = frames_warping_error(zip(clean, plain, strict=True))
    after = frames_warping_error(zip(clean, steady, strict=True))
    assert after.error < 0.6 * before.error


def test_stabilize_reuses_the_motion_denoise_measured(clean_and_noisy: tuple[list[np.ndarray], Path]) -> None:
    _, path = clean_and_noisy
    frames = run(path, [])
    denoise, stabilize = stability_stages(0.5)
    denoised = denoise(batch_of(frames[:4]))
    assert denoised.motion is not None and denoised.motion[0] is None  # the first frame has no motion
    assert all(motion is not None for motion in denoised.motion[1:])
    stabilised = stabilize(denoised.with_pixels(255 - denoised.pixels))
    assert stabilised.motion is denoised.motion  # not measured again
    assert stabilize.tracker.cuts == 0 and denoise.tracker.cuts == 0
    assert Scale(w=48)(denoised).motion is denoised.motion  # motion applies at any size


def test_history_carries_across_batches(clean_and_noisy: tuple[list[np.ndarray], Path]) -> None:
    _, path = clean_and_noisy
    frames = run(path, [])

    def denoised(batch_size: int) -> list[np.ndarray]:
        stage, out = Denoise(0.8), []
        for start in range(0, len(frames), batch_size):
            out += list(stage(batch_of(frames[start : start + batch_size], start)).pixels.permute(0, 2, 3, 1).numpy())
        return out

    one_by_one, in_fives = denoised(1), denoised(5)
    assert not np.array_equal(one_by_one[5], frames[5])
    assert all(np.array_equal(a, b) for a, b in zip(one_by_one, in_fives, strict=True))


def test_strength_zero_passes_frames_through(clean_and_noisy: tuple[list[np.ndarray], Path]) -> None:
    _, path = clean_and_noisy
    noisy = run(path, [])
    assert all(np.array_equal(a, b) for a, b in zip(run(path, [Denoise(0.0)]), noisy, strict=True))


def test_denoise_after_the_network_is_refused(
    tiny_filter: Path, clean_and_noisy: tuple[list[np.ndarray], Path]
) -> None:
    _, path = clean_and_noisy
    with pytest.raises(InvalidOptionError, match="denoise filters the input frames: put it before"):
        run(path, [Stylize("tiny"), Denoise(0.9)])


def test_stability_maps_to_both_stages() -> None:
    assert format_graph(stability_stages(0.5)) == "denoise,stabilize=0.3"  # denoise=0.9 is its default
    assert format_graph(stability_stages(1.0)) == "denoise,stabilize=0.6"
    assert format_graph(stability_stages(0.25)) == "denoise=0.45,stabilize=0.15"
    with pytest.raises(InvalidOptionError, match="stability must be in"):
        stability_stages(1.5)


def test_denoise_is_a_graph_stage() -> None:
    stages = build_graph("denoise=0.8:cut=0.2,stabilize=0.3")
    assert isinstance(stages[0], Denoise) and isinstance(stages[1], Stabilize)
    assert format_graph(parse_graph("denoise=0.8:cut=0.2")) == "denoise=0.8:cut=0.2"
    with pytest.raises(GraphSyntaxError, match="strength"):
        build_graph("denoise=0.99")


def test_public_names_all_exist() -> None:
    assert [name for name in streamstyle.__all__ if not hasattr(streamstyle, name)] == []
