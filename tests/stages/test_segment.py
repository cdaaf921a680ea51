"""Region stylisation: masks from a file and from torchvision segmenters, feathering, smoothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import CPU, moving_pattern, probe, write_filter
from PIL import Image

from streamstyle import InvalidOptionError, Pipeline, Stylize, open_source, parse_graph, stylize_file
from streamstyle.cli import main
from streamstyle.errors import WeightsUnavailableError
from streamstyle.files import style_stages
from streamstyle.graph import format_graph
from streamstyle.stages import Segment
from streamstyle.stages.masks import TemporalSmoother, feather
from streamstyle.stages.segmenters import SEGMENTERS, load_segmenter


def half_mask(path: Path, width: int, height: int) -> Path:
    """White (foreground) on the left half, black on the right."""
    grey = np.zeros((height, width), np.uint8)
    grey[:, : width // 2] = 255
    Image.fromarray(grey).save(path)
    return path


def read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(moving_pattern(0, 64, 48)).save(path)
    return path


@pytest.mark.parametrize("region", ["foreground", "background"])
def test_supplied_mask_stylises_only_its_region(tiny_filter: Path, photo: Path, tmp_path: Path, region: str) -> None:
    mask = half_mask(tmp_path / "mask.png", 64, 48)
    out = tmp_path / f"{region}.png"
    stylize_file(photo, out, stages=style_stages("tiny", mask=mask, stylize={"region": region}), compute=CPU)
    original, result = read_rgb(photo), read_rgb(out)
    inside, outside = (slice(0, 32), slice(32, 64)) if region == "foreground" else (slice(32, 64), slice(0, 32))
    assert np.array_equal(result[:, outside], original[:, outside])
    assert np.abs(result[:, inside] - original[:, inside]).mean() > 10


def test_supplied_mask_video_region_survives_the_codec(tiny_filter: Path, clip: Path, tmp_path: Path) -> None:
    mask = half_mask(tmp_path / "mask.png", 64, 48)
    out = tmp_path / "out.mp4"
    stylize_file(clip, out, stages=style_stages("tiny", mask=mask, stylize={"region": "background"}), compute=CPU)
    before, after = probe(clip)["rgb"], probe(out)["rgb"]
    for a, b in zip(before, after, strict=True):
        kept = np.abs(a[:, 4:28].astype(int) - b[:, 4:28]).mean()  # foreground, away from the edge
        styled = np.abs(a[:, 36:60].astype(int) - b[:, 36:60]).mean()
        assert kept < 3 < 10 < styled


def test_two_styles_one_per_region(photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_filter(tmp_path / "filters" / "a", name="a", seed=1)
    write_filter(tmp_path / "filters" / "b", name="b", seed=2)
    monkeypatch.setenv("STREAMSTYLE_FILTER_PATH", str(tmp_path / "filters"))
    mask = half_mask(tmp_path / "mask.png", 64, 48)
    both, only_a, only_b = tmp_path / "both.png", tmp_path / "a.png", tmp_path / "b.png"
    stylize_file(photo, both, stages=style_stages("a", background_style="b", mask=mask), compute=CPU)
    stylize_file(photo, only_a, style="a", compute=CPU)
    stylize_file(photo, only_b, style="b", compute=CPU)
    result = read_rgb(both)
    assert np.abs(result[:, :28] - read_rgb(only_a)[:, :28]).mean() < 1
    assert np.abs(result[:, 36:] - read_rgb(only_b)[:, 36:]).mean() < 1


def test_feathering_gives_a_gradual_edge() -> None:
    step = torch.zeros(1, 1, 8, 100)
    step[..., :50] = 1
    soft = feather(step, 16)[0, 0, 4]
    assert torch.equal(feather(step, 0), step)
    assert soft[10] > 0.99 and soft[90] < 0.01
    assert 0.4 < soft[49:51].mean() < 0.6
    assert (soft[:-1] >= soft[1:] - 1e-6).all(), "monotonic across the edge"
    assert ((soft > 0.05) & (soft < 0.95)).sum() >= 10, "a ramp, not a step"


def test_smoothing_reduces_mask_flicker_and_resets_at_cuts() -> None:
    rng = np.random.default_rng(0)
    frames, raw = [], []
    for t in range(20):  # a square moving right, its mask noisy as a real segmenter's
        mask = np.zeros((32, 48), np.float32)
        mask[8:24, 4 + t : 20 + t] = 1
        raw.append(np.clip(mask + rng.normal(0, 0.3, mask.shape), 0, 1))
        frames.append(moving_pattern(0, 48, 32))
    pixels = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)
    masks = torch.from_numpy(np.stack(raw))[:, None]

    def change(smoothed: torch.Tensor) -> float:
        return (smoothed[1:] - smoothed[:-1]).abs().mean().item()

    assert change(TemporalSmoother(0.6)(masks, pixels)) < 0.5 * change(TemporalSmoother(0.0)(masks, pixels))
    cut = pixels.clone()
    cut[10:] = 255 - cut[10:]
    smoothed = TemporalSmoother(0.9)(masks, cut)
    assert torch.equal(smoothed[10], masks[10]), "a scene cut starts the average afresh"


@pytest.mark.parametrize("model", SEGMENTERS)
def test_segmenters_run_end_to_end_with_random_weights(tiny_filter: Path, clip: Path, model: str) -> None:
    stages = [
        Segment("person+dog", model=model, size=64, feather=4, smooth=0.5, every=2, weights="random"),
        Stylize("tiny", region="background"),
    ]
    with Pipeline(open_source(clip), stages, device="cpu", batch_size=3) as pipeline:
        frames = 0
        for batch in pipeline:
            assert batch.masks is not None and batch.masks.shape == (len(batch), 1, 48, 64)
            assert batch.masks.min() >= 0 and batch.masks.max() <= 1
            frames += len(batch)
    assert frames == 10


def test_every_n_frames_runs_the_network_less_often(clip: Path) -> None:
    stage = Segment(size=64, every=3, weights="random")
    calls = []
    stage.segmenter.model.register_forward_hook(lambda module, args, output: calls.append(args[0].shape[0]))
    with Pipeline(open_source(clip), [stage], device="cpu", batch_size=4) as pipeline:
        assert sum(len(batch) for batch in pipeline) == 10
    assert sum(calls) == 4  # frames 0, 3, 6, 9


def test_offline_without_weights_names_both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(WeightsUnavailableError) as caught:
        load_segmenter("deeplabv3_mobilenet_v3_large")
    message = str(caught.value)
    assert "deeplabv3_mobilenet_v3_large-fc3c493d.pth" in message and str(tmp_path / "torch") in message
    assert "TORCH_HOME" in message and "--seg-weights" in message


def test_cli_offline_error_is_one_line(tiny_filter: Path, clip: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    args = [str(clip), "-s", "tiny", "--region", "background", "-o", str(tmp_path / "o.mp4")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == WeightsUnavailableError.exit_code
    assert result.output.startswith("error: no weights for") and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "o.mp4").exists()


def test_weights_from_a_file(tmp_path: Path) -> None:
    reference = load_segmenter("lraspp_mobilenet_v3_large", weights="random")
    own = tmp_path / "my_lraspp.pth"
    torch.save(reference.model.state_dict(), own)
    loaded = load_segmenter("lraspp_mobilenet_v3_large", weights=own)
    frame = torch.rand(1, 3, 64, 64)
    torch.testing.assert_close(loaded.model(frame)["out"], reference.model(frame)["out"])
    impostor = tmp_path / "lraspp_mobilenet_v3_large-d234d4ea.pth"  # an official name, other bytes
    torch.save(reference.model.state_dict(), impostor)
    with pytest.raises(WeightsUnavailableError, match="not the official"):
        load_segmenter("lraspp_mobilenet_v3_large", weights=impostor)
    with pytest.raises(WeightsUnavailableError, match="not found"):
        load_segmenter("lraspp_mobilenet_v3_large", weights=tmp_path / "absent.pth")


def test_class_names_are_checked_against_the_categories() -> None:
    with pytest.raises(InvalidOptionError, match=r"unknown class 'persn'.*person"):
        Segment("persn", weights="random")
    assert Segment("person+cat", size=64, weights="random").classes == ("person", "cat")


def test_region_without_masks_is_refused(tiny_filter: Path, clip: Path) -> None:
    with pytest.raises(InvalidOptionError, match="put a segment"):
        Pipeline(open_source(clip), [Stylize("tiny", region="background")], device="cpu")


def test_graph_form_round_trips() -> None:
    text = "segment=person:size=520:feather=8:smooth=0.6,stylize=starry:region=background"
    assert format_graph(parse_graph(text)) == text
    assert parse_graph("segment=person+dog:model=lraspp_mobilenet_v3_large")[0].options["classes"] == "person+dog"


def test_built_region_stages_format_back(tiny_filter: Path) -> None:
    stages = [Segment("person+cat", size=96, smooth=0.5, weights="random"), Stylize("tiny", region="background")]
    assert format_graph(stages) == "segment=person+cat:size=96:smooth=0.5:weights=random,stylize=tiny:region=background"
