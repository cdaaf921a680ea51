"""The stabilize stage: less flicker after a real network, exact pass-through where it must."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from motion_clips import run, translating, with_noise, write_clip

from streamstyle.cli import main
from streamstyle.errors import InvalidOptionError
from streamstyle.frames import FrameBatch
from streamstyle.graph import format_graph, parse_graph
from streamstyle.stages import Stylize
from streamstyle.stages.stabilize import Stabilize
from streamstyle.temporal.metrics import frames_warping_error
from streamstyle.temporal.scenecut import SceneCuts


@pytest.fixture
def noisy_clip(tmp_path: Path) -> tuple[Path, list[np.ndarray]]:
    """A texture sliding 2 px right and 1 px down per frame, with camera noise the network turns into flicker."""
    frames = with_noise(translating(10), 3.0, seed=2)
    return write_clip(tmp_path / "noisy.mkv", frames), frames


def test_stabilised_output_flickers_less(tiny_filter: Path, noisy_clip: tuple[Path, list[np.ndarray]]) -> None:
    path, originals = noisy_clip
    plain = run(path, [Stylize("tiny")])
    steady = run(path, [Stylize("tiny"), Stabilize(0.8)])
    before = frames_warping_error(zip(originals, plain, strict=True))
    after = frames_warping_error(zip(originals, steady, strict=True))
    assert after.error < 0.6 * before.error
    assert np.array_equal(steady[0], plain[0])  # nothing to blend with yet


def detail(frames: list[np.ndarray]) -> float:
    """Root mean square of the frames minus their Gaussian blur (sigma 2): the strokes' contrast."""
    return float(np.mean([np.sqrt(np.square(f - cv2.GaussianBlur(f, (0, 0), 2)).mean()) for f in np.float32(frames)]))


@pytest.mark.parametrize("strength", [0.5, 0.8])
def test_stabilised_output_keeps_the_detail(
    tiny_filter: Path, noisy_clip: tuple[Path, list[np.ndarray]], strength: float
) -> None:
    # a plain blend of warped outputs loses 35-45% of this detail here; the style goes with it
    path, originals = noisy_clip
    plain = run(path, [Stylize("tiny")])
    steady = run(path, [Stylize("tiny"), Stabilize(strength)])
    before = frames_warping_error(zip(originals, plain, strict=True))
    after = frames_warping_error(zip(originals, steady, strict=True))
    assert after.error < 0.5 * before.error
    assert 0.9 < detail(steady[1:]) / detail(plain[1:]) < 1.1


def test_detail_does_not_build_up_at_full_strength(tiny_filter: Path, tmp_path: Path) -> None:
    # strokes carried over for many frames must not sharpen frame after frame (unbounded: 1.3x by frame 10)
    path = write_clip(tmp_path / "long.mkv", with_noise(translating(20), 3.0, seed=2))
    plain = run(path, [Stylize("tiny")])
    steady = run(path, [Stylize("tiny"), Stabilize(1.0)])
    assert detail(steady[10:]) / detail(plain[10:]) < 1.15


def test_strength_zero_is_no_stabiliser(tiny_filter: Path, noisy_clip: tuple[Path, list[np.ndarray]]) -> None:
    path, _ = noisy_clip
    plain = run(path, [Stylize("tiny")])
    off = run(path, [Stylize("tiny"), Stabilize(0.0)])
    assert all(np.array_equal(a, b) for a, b in zip(plain, off, strict=True))


def test_history_carries_across_batches(tiny_filter: Path, noisy_clip: tuple[Path, list[np.ndarray]]) -> None:
    path, originals = noisy_clip
    stylised = run(path, [Stylize("tiny")])  # once: the network's last bit may depend on the batch size

    def stabilised(batch_size: int) -> list[np.ndarray]:
        stage, out = Stabilize(0.5), []
        for start in range(0, len(stylised), batch_size):
            source, pixels = (
                torch.from_numpy(np.stack(frames[start : start + batch_size])).permute(0, 3, 1, 2)
                for frames in (originals, stylised)
            )
            pts = torch.arange(start, start + len(pixels))
            batch = FrameBatch(pixels=pixels, pts=pts, time_base=Fraction(1, 10), source=source)
            out += list(stage(batch).pixels.permute(0, 2, 3, 1).numpy())
        return out

    one_by_one, in_fours = stabilised(1), stabilised(4)
    assert not np.array_equal(one_by_one[4], stylised[4])  # the first frame of a batch is stabilised too
    assert all(np.array_equal(a, b) for a, b in zip(one_by_one, in_fours, strict=True))


def test_scene_cut_resets_history(tiny_filter: Path, tmp_path: Path) -> None:
    frames = translating(5, seed=3) + translating(5, seed=4)
    path = write_clip(tmp_path / "cut.mkv", with_noise(frames, 3.0, seed=5))
    stage = Stabilize(0.8)
    plain = run(path, [Stylize("tiny")])
    steady = run(path, [Stylize("tiny"), stage])
    assert stage.tracker.cuts == 1
    assert np.array_equal(steady[5], plain[5])  # first frame of the new scene: unstabilised
    assert not np.array_equal(steady[4], plain[4]) and not np.array_equal(steady[6], plain[6])


def test_scene_cuts_flag_the_first_frame_of_each_new_shot() -> None:
    shots = translating(5, seed=3) + translating(5, seed=4)
    pixels = torch.from_numpy(np.stack(with_noise(shots, 3.0, seed=5))).permute(0, 3, 1, 2)
    detector = SceneCuts()
    flags = detector(pixels[:4]) + detector(pixels[4:])  # state carries across batches
    assert flags == [False] * 5 + [True] + [False] * 4
    assert detector(pixels[:1]) == [True]  # back to the first shot
    detector.reset()
    assert detector(pixels[5:6]) == [False]  # nothing to compare with after a reset
    assert detector(pixels[:1, :, :32, :32]) == [True]  # a new frame size is a new shot
    assert SceneCuts(1.0)(pixels) == [False] * 10
    with pytest.raises(InvalidOptionError, match="threshold"):
        SceneCuts(0.0)


@pytest.mark.parametrize(("options", "words"), [({"strength": 1.5}, "strength"), ({"cut": 0.0}, "cut")])
def test_options_out_of_range_are_refused(options: dict[str, float], words: str) -> None:
    with pytest.raises(InvalidOptionError, match=f"stabilize: {words}"):
        Stabilize(**options)


def test_cli_stability_and_evaluate_video(tiny_filter: Path, noisy_clip: tuple[Path, list[np.ndarray]]) -> None:
    clip, _ = noisy_clip
    plain, steady = clip.with_name("plain.mkv"), clip.with_name("steady.mkv")
    runner = CliRunner()
    for out, extra in ((plain, []), (steady, ["--stability", "0.8"])):
        result = runner.invoke(main, [str(clip), "-s", "tiny", "-o", str(out), "--device", "cpu", "--crf", "0", *extra])
        assert result.exit_code == 0, result.output
    errors = {}
    for out in (plain, steady):
        result = runner.invoke(main, ["evaluate-video", str(clip), str(out)])
        assert result.exit_code == 0, result.output
        errors[out] = float(result.output.split()[2])
        assert "floor" in result.output and "frame pairs    9" in result.output
    assert errors[steady] < 0.6 * errors[plain]


def test_cli_evaluate_video_refuses_mismatched_videos(tmp_path: Path) -> None:
    long, short = write_clip(tmp_path / "long.mkv", translating(8)), write_clip(tmp_path / "short.mkv", translating(6))
    result = CliRunner().invoke(main, ["evaluate-video", str(long), str(short)])
    assert result.exit_code == InvalidOptionError.exit_code
    assert result.output.startswith("error: ") and "frame counts differ" in result.output


def test_stabilize_formats_as_a_graph_stage() -> None:
    assert format_graph([Stabilize(0.8)]) == "stabilize=0.8"
    assert format_graph(parse_graph("stabilize=0.3:cut=0.2")) == "stabilize=0.3:cut=0.2"
