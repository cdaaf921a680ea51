"""`streamstyle bench`: model-only, file-to-file and naive-loop figures, measured for real (never timed here)."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from click.testing import CliRunner

from streamstyle.benchmark import run_benchmark, write_test_clip
from streamstyle.cli import main
from streamstyle.pipeline import STEPS


def test_bench_prints_a_line_per_network_size_and_precision() -> None:
    result = CliRunner().invoke(main, [
        "bench", "--networks", "stylebank", "--sizes", "64x48,96x64", "--frames", "3", "--precisions", "fp32,bf16",
        "--device", "cpu", "--no-compile",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines() if line.startswith("stylebank")]
    expected = [(size, precision) for size in ("64x48", "96x64") for precision in ("fp32", "bf16")]
    assert [(row[2], row[3]) for row in rows] == expected
    for row in rows:
        model_fps, engine_fps, naive_fps = float(row[4]), float(row[12]), float(row[13])
        assert model_fps > 0 and engine_fps > 0 and naive_fps > 0
        assert row[6:9] == ["-", "-", "-"] and row[10] == "-", "--no-compile: no compiled columns"
        # the ratio is printed to two decimals, from unrounded figures
        assert float(row[14].rstrip("x")) == pytest.approx(engine_fps / naive_fps, rel=0.05, abs=0.006)
        assert float(row[9]) > 0 and float(row[11]) > 0, "eager's share of the matmul peak measured next to it"
        assert row[-1] in STEPS and len(row) == 16 + len(STEPS)
    assert "matmul peak" in result.output


def test_the_compiled_column_stands_next_to_eager(tiny_filter: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    (line,) = run_benchmark(
        networks=["johnson_in"], sizes=[(64, 48)], precisions=["fp32"], frames=2, files=False, device="cpu"
    )
    assert line.compiled_fps and line.compiled_fps > 0 and line.compile_seconds and line.compile_seconds > 0
    assert line.compiled_psnr is not None and line.compiled_psnr > 40, "compiled computes what eager does"
    assert line.gflops and line.peak_gflops and line.peak_gflops > 0
    assert line.eager_share and line.compiled_share, "both shares of the peak measured"
    # each share is a median of per-slice ratios, so it sits near, not at, the ratio of the overall figures
    assert line.compiled_share == pytest.approx(line.compiled_fps * line.gflops / line.peak_gflops, rel=0.9)


def test_trained_weights_give_a_precision_psnr(tiny_filter: Path) -> None:
    lines = list(run_benchmark(
        networks=["johnson_in"], sizes=[(64, 48)], precisions=["fp32", "bf16"], frames=2, files=False, device="cpu",
    ))  # fmt: skip
    assert [line.precision for line in lines] == ["fp32", "bf16"]
    assert all(line.weights != "random" and line.engine_fps is None for line in lines)
    assert lines[0].psnr is None and lines[1].psnr is not None and lines[1].psnr > 30


def test_the_test_clip_has_its_frames_and_audio(tmp_path: Path) -> None:
    clip = write_test_clip(tmp_path / "clip.mp4", 96, 64, frames=15, rate=30)
    with av.open(str(clip)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 15
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "aac" and float(audio.duration * audio.time_base) > 0.4


def test_bad_bench_options_fail_in_one_line() -> None:
    for args, words in ((["--networks", "nope"], "unknown network"), (["--precisions", "fp8"], "unknown precision")):
        result = CliRunner().invoke(main, ["bench", *args, "--device", "cpu"])
        assert result.exit_code != 0 and words in result.output and "Traceback" not in result.output


def test_a_filter_is_benchmarked_by_its_name(tiny_filter: Path) -> None:
    result = CliRunner().invoke(main, [
        "bench", "--networks", "tiny", "--sizes", "64x48", "--precisions", "fp32", "--frames", "2", "--model-only",
        "--no-compile", "--device", "cpu",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    line = result.output.strip().splitlines()[-1].split()
    assert line[:4] == ["tiny", "tiny", "64x48", "fp32"] and float(line[4]) > 0
