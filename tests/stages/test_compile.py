"""Compiled networks: the same frames as eager, one graph per size, eager again when compiling fails."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import pytest
import torch
from conftest import CPU, make_video, probe, run

from streamstyle.benchmark import psnr
from streamstyle.files import stylize_file
from streamstyle.frames import FrameBatch
from streamstyle.io.media import write_image
from streamstyle.stages import Stylize
from streamstyle.stages.base import RunShape

CPU_DEVICE = torch.device("cpu")


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test compiles into its own inductor cache and compile-time record."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "cache" / "inductor"))


def batch_of(width: int, height: int, frames: int = 2) -> FrameBatch:
    pixels = torch.randint(
        0, 256, (frames, 3, height, width), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    return FrameBatch(pixels=pixels, pts=torch.arange(frames), time_base=Fraction(1, 25))


def stylised(stage: Stylize, batch: FrameBatch) -> torch.Tensor:
    return stage(batch).pixels.float()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_compiled_equals_eager_and_each_size_compiles_once(tiny_filter: Path, dtype: torch.dtype) -> None:
    eager = Stylize("tiny", compile="off").to(CPU_DEVICE, dtype)
    compiled = Stylize("tiny", compile="on").to(CPU_DEVICE, dtype)
    for width, height in ((64, 48), (96, 40), (64, 48)):
        batch = batch_of(width, height)
        assert psnr(stylised(compiled, batch), stylised(eager, batch)) > 40, (width, height, dtype)
    assert compiled.compiled is not None and not compiled.compiled.failed
    assert set(compiled.compiled.compile_seconds) == {(2, 3, 48, 64), (2, 3, 40, 96)}, "one graph per size"


def test_a_failed_compile_falls_back_to_eager_with_one_warning(
    tiny_filter: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import torch._inductor.config as inductor

    monkeypatch.setattr(inductor.cpp, "cxx", (None, "/nonexistent/c++"))  # as on a machine without a compiler
    eager = Stylize("tiny", compile="off").to(CPU_DEVICE, torch.float32)
    compiled = Stylize("tiny", compile="on").to(CPU_DEVICE, torch.float32)
    torch._dynamo.reset()
    with caplog.at_level(logging.WARNING, logger="streamstyle"):
        for _ in range(2):
            batch = batch_of(72, 56)
            assert torch.equal(stylised(compiled, batch), stylised(eager, batch))
    assert compiled.compiled is not None and compiled.compiled.failed
    warnings = [r for r in caplog.records if "compiling the network failed" in r.getMessage()]
    assert len(warnings) == 1


def test_auto_leaves_a_still_image_eager_and_compiles_a_live_input(tiny_filter: Path, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    write_image(photo, batch_of(64, 48, 1).pixels[0].permute(1, 2, 0).numpy())
    still = Stylize("tiny")
    stylize_file(photo, tmp_path / "out.png", stages=[still], compute=CPU)
    assert still.compile == "auto" and still.compiled is None

    live = Stylize("tiny").to(CPU_DEVICE, torch.float32)
    live.start(RunShape(64, 48, 1, None, live=True))
    assert live.compiled is not None and live.compiled.compile_seconds, "a live input: compiled before its frames"


def test_auto_weighs_the_frames_left_against_the_compile_time(tiny_filter: Path) -> None:
    for frames, compiles in ((3, False), (10_000_000, True)):
        stage = Stylize("tiny").to(CPU_DEVICE, torch.float32)
        stage.start(RunShape(64, 48, 1, frames, live=False))
        for _ in range(3):  # judged by the second batch's eager time
            stage(batch_of(64, 48, 1))
        assert (stage.compiled is not None) == compiles, f"{frames} frames"
    endless = Stylize("tiny").to(CPU_DEVICE, torch.float32)
    endless.start(RunShape(64, 48, 1, None, live=False))
    assert endless.compiled is not None, "an input of unknown length is assumed long: compile at start"


def test_auto_records_the_speedup_it_measured_and_trusts_it(tiny_filter: Path, tmp_path: Path) -> None:
    import json

    def long_run() -> Stylize:
        stage = Stylize("tiny").to(CPU_DEVICE, torch.float32)
        stage.start(RunShape(64, 48, 1, 10_000_000, live=False))
        for _ in range(4):  # eager, eager (judged: compile), the compile, the first compiled batch (timed)
            stage(batch_of(64, 48, 1))
        return stage

    assert long_run().compiled is not None
    record = tmp_path / "cache" / "streamstyle" / "compile_speedups.json"
    ((key, speedup),) = json.loads(record.read_text()).items()
    assert key.endswith(":1x3x48x64:torch.float32") and speedup > 0
    record.write_text(json.dumps({key: 0.9}))  # as on a machine where the compiled network was slower
    assert long_run().compiled is None, "a compile measured to gain nothing is not repeated, however long the run"


def test_compile_from_the_command_line_and_the_graph(tiny_filter: Path, tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4")
    for args in (["-s", "tiny", "--compile", "on"], ["-vf", "stylize=tiny:compile=on"]):
        out = tmp_path / f"out{len(args)}.mp4"
        result = run(clip, *args, "-o", out, "--device", "cpu")
        assert result.exit_code == 0, result.output
        assert probe(out)["frames"] == 10
    refused = run(clip, "-s", "tiny", "--compile", "maybe")
    assert refused.exit_code == 2 and "auto, on, off" in refused.output


def test_the_compile_cache_lives_in_the_users_cache_folder(
    tiny_filter: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    # importing torch._dynamo sets the variable to torch's /tmp default: that is no choice of the user's
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", default_cache_dir())
    torch._dynamo.reset()
    compiled = Stylize("tiny", compile="on").to(CPU_DEVICE, torch.float32)
    stylised(compiled, batch_of(80, 40))
    assert compiled.compiled is not None and not compiled.compiled.failed
    inductor = tmp_path / "cache" / "streamstyle" / "inductor"
    assert inductor.is_dir() and any(inductor.rglob("*.so")), "compiled kernels are kept in ~/.cache/streamstyle"
    assert (tmp_path / "cache" / "streamstyle" / "compile_seconds.json").is_file()


def test_after_a_first_compile_the_record_expects_a_warm_one(tiny_filter: Path, tmp_path: Path) -> None:
    import json

    from streamstyle.compiling import WARM_SHARE

    record = tmp_path / "cache" / "streamstyle" / "compile_seconds.json"
    first = Stylize("tiny", compile="on").to(CPU_DEVICE, torch.float32)
    stylised(first, batch_of(64, 48, 1))
    assert first.compiled is not None and not first.compiled.failed
    (cold,) = first.compiled.compile_seconds.values()
    (expected,) = json.loads(record.read_text()).values()
    assert expected == pytest.approx(cold * WARM_SHARE, abs=0.01), "the cache now holds the graph"
    torch._dynamo.reset()
    second = Stylize("tiny", compile="on").to(CPU_DEVICE, torch.float32)
    stylised(second, batch_of(64, 48, 1))
    assert second.compiled is not None
    (warm,) = second.compiled.compile_seconds.values()
    (measured,) = json.loads(record.read_text()).values()
    assert measured == pytest.approx(warm, abs=0.01), "a second compile records what it measured"
