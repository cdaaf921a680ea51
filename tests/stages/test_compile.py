"""Compiled networks: the same frames as eager, one graph per size, eager again when compiling fails."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import pytest
import torch
from conftest import CPU, make_video, probe, run, write_filter

from streamstyle.benchmark import psnr
from streamstyle.compile_thread import in_background
from streamstyle.compiling import ASSUMED_SPEEDUP, compile_key, expected_speedup, record_speedup
from streamstyle.controls import LiveControls, StyleSwitch
from streamstyle.files import stylize_file
from streamstyle.frames import FrameBatch
from streamstyle.io.media import write_image
from streamstyle.realtime import fit_scale
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


@contextmanager
def compile_thread_held() -> Iterator[None]:
    """Keep the background compile thread busy until the block ends, so that what is queued meanwhile waits."""
    release = threading.Event()
    in_background(release.wait)
    try:
        yield
    finally:
        release.set()


def wait_until_compiled(stages: list[Stylize], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while any(stage.compiled is None for stage in stages):
        assert time.monotonic() < deadline, "the background compiles did not end"
        time.sleep(0.05)


def test_auto_leaves_a_still_image_eager_and_compiles_a_live_input_in_the_background(
    tiny_filter: Path, tmp_path: Path
) -> None:
    photo = tmp_path / "photo.png"
    write_image(photo, batch_of(64, 48, 1).pixels[0].permute(1, 2, 0).numpy())
    still = Stylize("tiny")
    stylize_file(photo, tmp_path / "out.png", stages=[still], compute=CPU)
    assert still.compile == "auto" and still.compiled is None

    eager = Stylize("tiny", compile="off").to(CPU_DEVICE, torch.float32)
    live = Stylize("tiny").to(CPU_DEVICE, torch.float32)
    with compile_thread_held():
        live.start(RunShape(64, 48, 1, None, live=True))
        batch = batch_of(64, 48, 1)
        assert live.compiled is None, "a live input does not wait for its compile"
        assert torch.equal(stylised(live, batch), stylised(eager, batch)), "its frames run eagerly meanwhile"
    wait_until_compiled([live])
    assert live.compiled is not None and not live.compiled.failed and live.compiled.compile_seconds
    assert psnr(stylised(live, batch), stylised(eager, batch)) > 40
    speedups = json.loads((tmp_path / "cache" / "streamstyle" / "compile_speedups.json").read_text())
    ((key, speedup),) = speedups.items()
    assert key.endswith(":1x3x48x64:torch.float32") and speedup > 0, "timed after the compile, and recorded"


def test_a_live_input_compiles_before_its_first_frame_when_the_cache_makes_that_quick(tiny_filter: Path) -> None:
    first = Stylize("tiny").to(CPU_DEVICE, torch.float32)
    first.start(RunShape(64, 48, 1, None, live=True))
    assert first.compiled is None, "nothing on record: a cold compile, in the background"
    wait_until_compiled([first])
    again = Stylize("tiny").to(CPU_DEVICE, torch.float32)
    again.start(RunShape(64, 48, 1, None, live=True))
    assert again.compiled is not None, "the record expects a warm compile, well under LIVE_COMPILE_WAIT: at once"


def test_a_process_ends_cleanly_while_a_live_compile_runs(tiny_filter: Path) -> None:
    script = (
        "import time, torch\n"
        "from streamstyle.stages import Stylize\n"
        "from streamstyle.stages.base import RunShape\n"
        "stage = Stylize('tiny').to(torch.device('cpu'), torch.float32)\n"
        "stage.start(RunShape(320, 240, 1, None, live=True))\n"
        "time.sleep(2)\n"
        "print('compiled' if stage.compiled else 'still compiling', flush=True)\n"
    )
    # an empty cache: the compile is still running at exit, inside torch (Python 3.11 aborted such a process)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr[-2000:]
    assert done.stdout.strip() in ("compiled", "still compiling")


def test_a_live_switch_starts_at_once_and_compiles_every_look_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_filter(tmp_path / "filters" / "a", name="a", seed=1)
    write_filter(tmp_path / "filters" / "b", name="b", seed=2)
    monkeypatch.setenv("STREAMSTYLE_FILTER_PATH", str(tmp_path / "filters"))
    controls = LiveControls(["a", "b"])
    controls.index = 1
    switch = StyleSwitch(controls).to(CPU_DEVICE, torch.float32)
    batch = batch_of(64, 48, 1)
    shown_eagerly = Stylize("b", compile="off").to(CPU_DEVICE, torch.float32)
    with compile_thread_held():
        switch.start(RunShape(64, 48, 1, None, live=True))
        assert all(stage.compiled is None for stage in switch.stylizers), "start does not wait for the compiles"
        assert torch.equal(switch(batch).pixels.float(), stylised(shown_eagerly, batch)), "eager meanwhile"
    wait_until_compiled(switch.stylizers)
    for index in range(len(switch.stylizers)):
        controls.index = index
        eager = Stylize(controls.style, compile="off").to(CPU_DEVICE, torch.float32)
        assert psnr(switch(batch).pixels.float(), stylised(eager, batch)) > 40, controls.style


def test_a_live_run_moves_to_its_compiled_scale_once_compiled(tiny_filter: Path) -> None:
    stage = Stylize("tiny", scale=0.5).to(CPU_DEVICE, torch.float32)
    stage.compiled_scale = 1.0
    batch = batch_of(64, 48, 1)
    with compile_thread_held():
        stage.start(RunShape(64, 48, 1, None, live=True))
        half = Stylize("tiny", scale=0.5, compile="off").to(CPU_DEVICE, torch.float32)
        assert torch.equal(stylised(stage, batch), stylised(half, batch)), "eager at the scale eager keeps up at"
    wait_until_compiled([stage])
    whole = Stylize("tiny", compile="off").to(CPU_DEVICE, torch.float32)
    assert psnr(stylised(stage, batch), stylised(whole, batch)) > 40, "then compiled, at the compiled scale"
    assert stage.compiled is not None and set(stage.compiled.compile_seconds) == {(1, 3, 48, 64)}, "one graph"


def test_fitting_the_scale_compiles_nothing(tiny_filter: Path, tmp_path: Path) -> None:
    stage = Stylize("tiny")
    eager, compiled = fit_scale(stage, 640, 360, 30, device="cpu")
    assert 0.1 <= eager <= compiled <= 1, "compiled, it is expected to keep up at a larger scale (or as large)"
    assert stage.compiled is None and not (tmp_path / "cache" / "streamstyle" / "compile_seconds.json").exists()


def test_the_expected_speedup_is_the_one_recorded_at_the_nearest_size() -> None:
    bf16 = torch.bfloat16
    record_speedup(compile_key("net", (1, 3, 360, 640), bf16), 2.0)
    record_speedup(compile_key("net", (1, 3, 720, 1280), bf16), 3.0)
    record_speedup(compile_key("other", (1, 3, 400, 700), bf16), 9.0)
    assert expected_speedup(compile_key("net", (1, 3, 360, 640), bf16)) == 2.0
    assert expected_speedup(compile_key("net", (1, 3, 400, 700), bf16)) == 2.0
    assert expected_speedup(compile_key("net", (1, 3, 700, 1300), bf16)) == 3.0
    assert expected_speedup(compile_key("net", (1, 3, 360, 640), torch.float32)) == ASSUMED_SPEEDUP
    assert expected_speedup(compile_key("net", (4, 3, 360, 640), bf16)) == ASSUMED_SPEEDUP


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
