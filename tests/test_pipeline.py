"""The pipeline engine against the simplest per-frame loop, and its memory on a long video."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch
from conftest import CPU, make_video, probe

from streamstyle import Pipeline, Stylize, open_sink, open_source, stylize_file
from streamstyle.benchmark import psnr
from streamstyle.errors import InvalidOptionError
from streamstyle.pipeline import STEPS


def per_frame_loop(path: Path, model: torch.nn.Module) -> list[np.ndarray]:
    """What pytorch/examples-style scripts do: one frame at a time, fp32, numpy <-> tensor on the host."""
    outputs = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            rgb = torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1)[None].float()
            with torch.no_grad():
                out = model(rgb).clamp(0, 255).round().byte()
            outputs.append(out[0].permute(1, 2, 0).numpy())
    return outputs


def test_engine_output_equals_the_per_frame_loop(tiny_filter: Path, clip: Path) -> None:
    stage = Stylize("tiny")
    expected = per_frame_loop(clip, stage.filter.load_model())
    with Pipeline(open_source(clip), [stage], device="cpu", batch_size=4, precision="fp32") as pipeline:
        got = [frame for batch in pipeline for frame in batch.pixels.permute(0, 2, 3, 1).numpy()]
    assert len(got) == len(expected) == 10
    for a, b in zip(got, expected, strict=True):
        assert np.abs(a.astype(int) - b).max() <= 1  # rounding of float sums in another order


def resident_megabytes() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * 4096 / 2**20


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads memory from /proc (Linux)")
def test_memory_stays_flat_over_a_long_video(tiny_filter: Path, tmp_path: Path) -> None:
    long = make_video(tmp_path / "long.mp4", frames=1500, size=(96, 64), rate=50, audio=True)
    samples: dict[int, float] = {}
    frames = 0
    source = open_source(long)
    sink = open_sink(tmp_path / "out.mp4", source.info, source.side_streams)
    with Pipeline(source, [Stylize("tiny")], sink, device="cpu", batch_size=4) as pipeline:
        for batch in pipeline:
            frames += len(batch)
            if frames in (300, 1500):
                samples[frames] = resident_megabytes()
    assert frames == 1500 and probe(tmp_path / "out.mp4")["frames"] == 1500
    assert samples[1500] - samples[300] < 30, f"memory grew from {samples[300]:.0f} to {samples[1500]:.0f} MB"


def test_every_step_is_timed_and_the_slowest_is_named(tiny_filter: Path, clip: Path, tmp_path: Path) -> None:
    summary = stylize_file(clip, tmp_path / "out.mp4", style="tiny", compute=CPU)
    assert summary.frames == 10 and set(summary.busy) == set(STEPS)
    assert all(seconds > 0 for seconds in summary.busy.values()), summary.busy
    assert summary.bottleneck == max(summary.busy, key=summary.busy.__getitem__)
    compute = summary.busy["upload"] + summary.busy["model"] + summary.busy["download"]  # one thread
    for seconds in (summary.busy["decode"], compute, summary.busy["encode"]):
        assert seconds <= summary.seconds


def test_bf16_output_is_close_to_fp32(tiny_filter: Path, clip: Path) -> None:
    outputs = {}
    for precision in ("fp32", "bf16"):
        with Pipeline(open_source(clip), [Stylize("tiny")], device="cpu", precision=precision) as pipeline:
            outputs[precision] = torch.cat([batch.pixels for batch in pipeline])
    assert outputs["bf16"].shape == outputs["fp32"].shape == (10, 3, 48, 64)
    assert 30 < psnr(outputs["bf16"], outputs["fp32"]) < float("inf")


def test_unknown_precision_is_refused(tiny_filter: Path, clip: Path) -> None:
    with pytest.raises(InvalidOptionError, match="unknown precision 'fp8'"):
        Pipeline(open_source(clip), [Stylize("tiny")], device="cpu", precision="fp8")
