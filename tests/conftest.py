"""Shared fixtures: tiny real media made with PyAV, and a tiny filter with random weights."""

from __future__ import annotations

import hashlib
import signal
import subprocess
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result
from safetensors.torch import save_file

from streamstyle import errors
from streamstyle.cli import main
from streamstyle.files import ComputeOptions
from streamstyle.models import JohnsonIN, count_parameters

CPU = ComputeOptions(device="cpu")
"""Run the stages on the CPU (the tests' machines have no GPU; CUDA tests ask for it themselves)."""

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "sample.mp4"
"""The bundled sample the README's commands use."""
AUDIO_RATE = 48000


def ctrl_c_enabled() -> None:
    """``preexec_fn`` for a child that is sent SIGINT: a shell running pytest in the background
    hands its children SIGINT ignored, and Python then installs no KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def moving_pattern(index: int, width: int, height: int) -> np.ndarray:
    """A frame with structure and motion, so stylised output visibly differs from the input."""
    y, x = np.mgrid[0:height, 0:width]
    r = (x * 4 + index * 7) % 256
    g = (y * 5 + index * 3) % 256
    b = ((x + y) * 2 + index * 11) % 256
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def make_video(
    path: Path,
    *,
    frames: int = 10,
    size: tuple[int, int] = (64, 48),
    rate: int = 10,
    pts: Sequence[int] | None = None,
    audio: bool = True,
    rotation: int = 0,
    codec: str = "libx264",
    key_every: int | None = None,
) -> Path:
    """Write a real encoded clip; ``pts`` (in 1/rate units... of time_base 1/1000 if given) makes VFR.

    ``key_every``: a key frame every that many frames (else the encoder's default, 250 for x264).
    """
    width, height = size
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=rate)
        video.width, video.height = width, height
        video.pix_fmt = "yuv444p" if width % 2 or height % 2 else "yuv420p"
        time_base = Fraction(1, 1000) if pts is not None else Fraction(1, rate)
        video.codec_context.time_base = time_base
        if rotation:
            video.set_display_rotation(rotation)
        if key_every:
            video.codec_context.gop_size = key_every
        tone = container.add_stream("aac", rate=AUDIO_RATE) if audio else None
        if tone is not None:
            tone.layout = "mono"
        stamps = list(pts) if pts is not None else list(range(frames))
        for index, stamp in enumerate(stamps):
            frame = av.VideoFrame.from_ndarray(moving_pattern(index, width, height), format="rgb24")
            frame.pts, frame.time_base = stamp, time_base
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if tone is not None:
            seconds = float((stamps[-1] + (stamps[-1] - stamps[-2] if len(stamps) > 1 else 1)) * time_base)
            samples = int(seconds * AUDIO_RATE)
            wave = 0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / AUDIO_RATE).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = wave[start : start + 1024].reshape(1, -1)
                audio_frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                audio_frame.sample_rate, audio_frame.pts = AUDIO_RATE, start
                container.mux(tone.encode(audio_frame))
            container.mux(tone.encode(None))
    return path


def write_filter(folder: Path, *, name: str = "tiny", seed: int = 0, broken: bool = False) -> Path:
    """A small but complete filter folder (random weights) that loads through the real path.

    ``broken``: the last layer's bias is NaN, as weights of a training that diverged.
    """
    folder.mkdir(parents=True)
    torch.manual_seed(seed)
    model = JohnsonIN(width=4, residual_blocks=1)
    with torch.no_grad():  # spread the output over the pixel range, as a trained filter's is
        model.deconv3.conv.weight.mul_(60.0)
        model.deconv3.conv.bias.fill_(float("nan") if broken else 128.0)
    weights = folder / "weights.safetensors"
    save_file({key: value.contiguous() for key, value in model.state_dict().items()}, str(weights))
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    (folder / "filter.toml").write_text(
        f'schema = 1\nname = "{name}"\ntitle = "Tiny test filter"\n\n'
        '[style]\nartist = "nobody"\ncredit = "random weights"\nlicence = "CC0-1.0"\n\n'
        '[model]\narchitecture = "johnson_in"\noptions = { width = 4, residual_blocks = 1 }\n'
        f'weights = "weights.safetensors"\nsha256 = "{digest}"\nparameters = {count_parameters(model)}\n',
        encoding="utf-8",
    )
    return folder


@pytest.fixture(autouse=True, scope="session")
def session_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Compile records and inductor's cache go to a folder of the test session's, not the user's ``~/.cache``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture
def tiny_filter(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A filter named ``tiny`` on the search path."""
    root = tmp_path_factory.mktemp("filters")
    folder = write_filter(root / "tiny")
    monkeypatch.setenv("STREAMSTYLE_FILTER_PATH", str(root))
    return folder


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """10 frames of 64x48 at 10 fps with a 1 s AAC tone."""
    return make_video(tmp_path / "clip.mp4")


def probe(path: Path) -> dict[str, object]:
    """What a user checks on an output: streams, sizes, frame counts, timestamps, durations."""
    with av.open(str(path)) as container:
        info: dict[str, object] = {"format": container.format.name, "duration": container.duration}
        video = container.streams.video[0]
        info["codec"] = video.codec_context.name
        info["pix_fmt"] = video.codec_context.pix_fmt
        info["time_base"] = video.time_base
        frames = list(container.decode(video=0))
        info["frames"] = len(frames)
        info["size"] = (frames[0].width, frames[0].height)
        info["times"] = [float(f.pts * f.time_base) for f in frames]
        info["rotation"] = frames[0].rotation
        info["rgb"] = [f.to_ndarray(format="rgb24") for f in frames]
    with av.open(str(path)) as container:
        audio = [s for s in container.streams if s.type == "audio"]
        info["audio_codec"] = audio[0].codec_context.name if audio else None
        packets = [p for p in container.demux(audio[0]) if p.size] if audio else []
        info["audio_packets"] = len(packets)
        info["audio_end"] = float((packets[-1].pts + packets[-1].duration) * packets[-1].time_base) if packets else None
    return info


def run(*args: str | Path) -> Result:
    """The command line, in this process (click's runner)."""
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_clean_failure(result: Result, code: int, *words: str) -> None:
    """One error line naming the problem, the expected exit code, no traceback."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert len(result.output.strip().splitlines()) == 1 or code == errors.GraphSyntaxError.exit_code
    assert result.output.startswith("error: ") or result.output.startswith("Usage:"), result.output
    for word in words:
        assert word in result.output


def no_leftovers(folder: Path) -> bool:
    """No temporary ``.part`` file is left in ``folder``."""
    return not any(p.name.endswith(".part") for p in folder.iterdir())


def console(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed console script, run as a user types it."""
    return subprocess.run(["streamstyle", *args], cwd=cwd, capture_output=True, text=True, timeout=300)
