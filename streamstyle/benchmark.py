"""Throughput figures: frames per second of a network alone and of file-to-file stylisation.

What ``streamstyle bench`` measures, for each network and frame size, in one run:

- model only: frames already on the device, per precision, with the PSNR of each precision's
  output against fp32's on a frame of the test clip. A network is an architecture or an
  installed filter's name; an installed filter of the architecture supplies the weights where
  there is one (a PSNR of random weights says little); otherwise
  they are random (speed does not depend on the values);
- the engine: :func:`~streamstyle.files.stylize_file` on a generated H.264 clip with AAC
  audio, to H.264 with the audio kept, per precision, with the seconds each step was busy
  (decode, upload, model, download, encode) and the one that limited it;
- the naive loop, as pytorch/examples-style scripts do it: one frame at a time, fp32,
  numpy <-> tensor on the host, no audio; measured alternately with the engine, so machine
  noise hits both.
"""

from __future__ import annotations

import copy
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from safetensors.torch import save_file
from torch.utils.flop_counter import FlopCounterMode

from streamstyle.checksum import file_sha256
from streamstyle.compiling import CompiledNetwork
from streamstyle.device import resolve_device, resolve_precision
from streamstyle.files import ComputeOptions, OutputOptions, stylize_file
from streamstyle.filters import Filter, list_filters
from streamstyle.models import build_model, count_parameters
from streamstyle.pipeline import STEPS
from streamstyle.stages import Stylize

LIGHTEST = "stylebank"
"""The lightest network: 2.1 GFLOPs per 640x360 frame against johnson_in's 70.9."""
SIZES = ((640, 360), (1280, 720), (1920, 1080), (3840, 2160))
AUDIO_RATE = 48000


@dataclass(frozen=True)
class Figures:
    """One line of the benchmark: a network at a size and precision.

    ``weights`` names the filter that gave the weights (or ``random``); ``psnr`` compares the
    output with fp32's (None for fp32 itself and for random weights). ``busy`` is the engine's
    seconds per frame of each step; ``naive_fps`` is fp32 by definition and repeated on each
    precision's line for the ratio. ``compiled_*`` are the model-only figures of the network
    compiled (:mod:`streamstyle.compiling`): its speed, the seconds its first call took (the
    compile, from the cache if warm) and the PSNR of its output against eager's; ``gflops`` is
    the network's arithmetic per frame, ``peak_gflops`` the median of the matmul peaks measured
    between its model-only slices, and ``eager_share`` and ``compiled_share`` the network's arithmetic
    rate as a fraction of that peak: the median over slices of each slice's rate against the peak
    measured just before it (a shared CPU's speed drifts by 2-5x within minutes, so a rate and a
    peak measured a minute apart say little).
    """

    network: str
    weights: str
    width: int
    height: int
    precision: str
    model_fps: float
    psnr: float | None
    engine_fps: float | None = None
    naive_fps: float | None = None
    busy: dict[str, float] | None = None
    compiled_fps: float | None = None
    compile_seconds: float | None = None
    compiled_psnr: float | None = None
    gflops: float | None = None
    peak_gflops: float | None = None
    eager_share: float | None = None
    compiled_share: float | None = None

    @property
    def speedup(self) -> float | None:
        """Engine over naive loop, file to file."""
        return self.engine_fps / self.naive_fps if self.engine_fps and self.naive_fps else None

    @property
    def bottleneck(self) -> str | None:
        return max(self.busy, key=self.busy.__getitem__) if self.busy else None


def write_random_filter(folder: Path, architecture: str = "johnson_in") -> Path:
    """Write ``folder`` as a complete filter of ``architecture`` with random weights."""
    folder.mkdir(parents=True, exist_ok=True)
    model = build_model(architecture)
    weights = folder / "weights.safetensors"
    save_file({key: value.contiguous() for key, value in model.state_dict().items()}, str(weights))
    (folder / "filter.toml").write_text(
        f'schema = 1\nname = "{folder.name}"\ntitle = "random {architecture}"\n'
        '[style]\nartist = "-"\ncredit = "-"\nlicence = "-"\n'
        f'[model]\narchitecture = "{architecture}"\nweights = "weights.safetensors"\n'
        f'sha256 = "{file_sha256(weights)}"\nparameters = {count_parameters(model)}\n'
    )
    return folder


def write_test_clip(path: Path, width: int, height: int, frames: int, rate: int = 30) -> Path:
    """An H.264 clip with moving structure and a 440 Hz AAC tone, ``frames`` long."""
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([(x * 3) % 256, (y * 2) % 256, ((x + y) // 2) % 256], axis=-1).astype(np.uint8)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=rate, options={"crf": "23", "preset": "veryfast"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        tone = container.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        for index in range(frames):
            pixels = np.roll(base, (index * 3, index * 5), axis=(0, 1))
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, rate)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        samples = frames * AUDIO_RATE // rate
        wave = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / AUDIO_RATE)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = av.AudioFrame.from_ndarray(wave[None, start : start + 1024], format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts = AUDIO_RATE, start
            container.mux(tone.encode(chunk))
        container.mux(tone.encode(None))
    return path


@dataclass(frozen=True)
class ModelTiming:
    """A network's model-only speed, measured in slices with the matmul peak measured before each.

    ``fps`` is over all slices; ``slice_fps[i]`` ran right after ``peaks[i]`` (GFLOP/s) was measured.
    ``output`` is the output for the measured frame as uint8 on the CPU, ``first_seconds`` the first
    call (the warm-up: for a compiled model, the compile).
    """

    fps: float
    slice_fps: list[float]
    peaks: list[float]
    output: torch.Tensor
    first_seconds: float

    def share_of_peak(self, gflops: float) -> float:
        """The median over slices of the slice's arithmetic rate against the peak measured before it."""
        return statistics.median(fps * gflops / peak for fps, peak in zip(self.slice_fps, self.peaks, strict=True))


def model_fps(
    model: torch.nn.Module,
    frame: torch.Tensor,
    device: torch.device,
    dtype: torch.dtype,
    batch: int,
    frames: int,
    *,
    compiled: bool = False,
    slices: int = 5,
) -> ModelTiming:
    """Frames per second of ``model`` alone on ``frames`` frames (at least one batch) already on ``device``.

    Args:
        frame: RGB ``(3, H, W)`` uint8; the batch is copies of it.
        compiled: run it compiled, as ``stylize``'s ``compile=on`` does (both channels_last, as ``stylize`` runs).
        slices: the batches are timed in this many slices (at most one per batch), each right after a
            measurement of the matmul peak in ``dtype``.
    """
    memory = torch.channels_last
    model = copy.deepcopy(model).to(device=device, dtype=dtype, memory_format=memory).eval()  # ours stays fp32
    pixels = frame.to(device=device, dtype=dtype).expand(batch, -1, -1, -1).contiguous(memory_format=memory)
    network = CompiledNetwork(model, "bench") if compiled else model
    runs = max(1, frames // batch)
    sizes = [len(part) for part in np.array_split(range(runs), min(slices, runs))]
    seconds, peaks = [], []
    with torch.inference_mode():
        started = time.perf_counter()
        output = network(pixels)  # also the warm-up: kernels chosen (or compiled), memory allocated
        _synchronize(device)
        first = time.perf_counter() - started
        for size in sizes:
            peaks.append(matmul_peak_gflops(device, dtype))
            started = time.perf_counter()
            for _ in range(size):
                network(pixels)
            _synchronize(device)
            seconds.append(time.perf_counter() - started)
    return ModelTiming(
        runs * batch / sum(seconds), [size * batch / spent for size, spent in zip(sizes, seconds, strict=True)],
        peaks, output[0].float().clamp(0, 255).round().byte().cpu(), first,
    )  # fmt: skip


def matmul_peak_gflops(device: torch.device, dtype: torch.dtype, *, side: int = 2048, runs: int = 10) -> float:
    """The GFLOP/s of a large square matmul in ``dtype``: the practical arithmetic peak the networks are held to."""
    a = torch.rand(side, side, device=device).to(dtype)
    b = torch.rand(side, side, device=device).to(dtype)
    torch.mm(a, b)
    _synchronize(device)
    started = time.perf_counter()
    for _ in range(runs):
        torch.mm(a, b)
    _synchronize(device)
    return 2 * side**3 * runs / (time.perf_counter() - started) / 1e9


def network_gflops(model: torch.nn.Module, frame: torch.Tensor) -> float:
    """Floating-point operations of one frame through ``model`` (PyTorch's FLOP counter), in billions."""
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(frame[None].float())
    return counter.get_total_flops() / 1e9


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio of two uint8 images, in dB (inf when equal)."""
    mse = float((a.double() - b.double()).pow(2).mean())
    return 10 * math.log10(255**2 / mse) if mse > 0 else math.inf


def naive_fps(clip: Path, out: Path, model: torch.nn.Module, device: torch.device) -> float:
    """File-to-file frames per second of the per-frame loop of example scripts."""
    model = model.to(device=device, dtype=torch.float32, memory_format=torch.contiguous_format).eval()
    started, count = time.perf_counter(), 0
    with av.open(str(clip)) as source, av.open(str(out), "w") as sink:
        video = source.streams.video[0]
        stream = sink.add_stream("libx264", rate=video.average_rate or 25, options={"crf": "18"})
        stream.width, stream.height, stream.pix_fmt = video.width, video.height, "yuv420p"
        for frame in source.decode(video):
            rgb = torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1)[None].float().to(device)
            with torch.no_grad():
                styled = model(rgb).clamp(0, 255).byte()[0].permute(1, 2, 0).cpu().numpy()
            result = av.VideoFrame.from_ndarray(styled, format="rgb24")
            result.pts = count
            sink.mux(stream.encode(result))
            count += 1
        sink.mux(stream.encode(None))
    return count / (time.perf_counter() - started)


def run_benchmark(
    *,
    networks: Sequence[str] = ("johnson_in", LIGHTEST),
    sizes: Sequence[tuple[int, int]] = SIZES,
    precisions: Sequence[str] = ("fp32", "fp16"),
    frames: int = 120,
    rounds: int = 1,
    files: bool = True,
    device: str = "auto",
    batch_size: int | None = None,
    compile: bool = True,
    on_step: Callable[[str], None] | None = None,
) -> Iterator[Figures]:
    """Measure every network x size x precision; yields each line as it is done.

    Args:
        frames: frames per measurement (model-only runs use the same count).
        rounds: engine and naive loop are run alternately this many times; the median counts.
        files: also measure file to file (engine and naive loop); else model only.
        compile: also measure each network compiled (model only), next to eager.
        batch_size: the engine's (default the pipeline's: 1 on the CPU, 4 on CUDA); model-only
            runs use the same.
        on_step: called with a label before each measurement (for progress).

    Raises:
        InvalidOptionError: an unknown network or precision.
        DeviceError: CUDA asked for but absent.
    """
    target = resolve_device(device)
    dtypes = {name: resolve_precision(name, target) for name in precisions}
    batch = batch_size or (4 if target.type == "cuda" else 1)
    with tempfile.TemporaryDirectory(prefix="streamstyle-bench-") as scratch:
        work = Path(scratch)
        for network in networks:
            trained = _installed(network)
            item = trained or Filter.from_folder(write_random_filter(work / f"random_{network}", network))
            weights = item.name if trained else "random"
            model = Stylize(item).model  # a StyleBank as its first style
            for width, height in sizes:
                label = f"{network} {width}x{height}"
                clip = work / f"clip_{width}x{height}.mp4"
                if not clip.exists():
                    _notify(on_step, f"writing a {width}x{height} test clip")
                    write_test_clip(clip, width, height, frames if files else 1)
                frame = _first_frame(clip)
                naive: list[float] = []
                reference: torch.Tensor | None = None
                gflops = network_gflops(model, frame)
                for precision, dtype in dtypes.items():
                    _notify(on_step, f"{label} {precision} model only")
                    eager = model_fps(model, frame, target, dtype, batch, frames)
                    speed, output, peaks = eager.fps, eager.output, eager.peaks
                    compiled: dict[str, float | None] = {"compiled_fps": None}
                    if compile:
                        _notify(on_step, f"{label} {precision} model only, compiled")
                        fast = model_fps(model, frame, target, dtype, batch, frames, compiled=True)
                        peaks = peaks + fast.peaks
                        compiled = {"compiled_fps": fast.fps, "compile_seconds": fast.first_seconds,
                                    "compiled_psnr": psnr(fast.output, output),
                                    "compiled_share": fast.share_of_peak(gflops)}  # fmt: skip
                    compiled["peak_gflops"] = statistics.median(peaks)
                    compiled["eager_share"] = eager.share_of_peak(gflops)
                    if dtype == torch.float32 and reference is None:
                        reference = output
                    quality = None
                    if trained and dtype != torch.float32:
                        if reference is None:  # fp32 not asked for, or asked for later
                            reference = model_fps(model, frame, target, torch.float32, 1, 1).output
                        quality = psnr(output, reference)
                    if not files:
                        yield Figures(
                            network, weights, width, height, precision, speed, quality, gflops=gflops, **compiled
                        )
                        continue
                    engine, busy = [], []
                    for round_index in range(rounds):
                        if len(naive) <= round_index:  # once per size, alternating with the first precision
                            _notify(on_step, f"{label} naive loop")
                            naive.append(naive_fps(clip, work / f"naive{round_index}.mp4", model, target))
                        _notify(on_step, f"{label} {precision} file to file")
                        summary = stylize_file(
                            clip, work / f"engine{round_index}.mp4", style=str(item.path),
                            compute=ComputeOptions(batch_size=batch, device=str(target), precision=precision),
                            sink=OutputOptions(overwrite=True),
                        )  # fmt: skip
                        engine.append(summary.fps)
                        busy.append({step: summary.busy.get(step, 0.0) / summary.frames for step in STEPS})
                    middle = engine.index(statistics.median_low(engine))
                    yield Figures(
                        network, weights, width, height, precision, speed, quality,
                        statistics.median(engine), statistics.median(naive), busy[middle], gflops=gflops, **compiled,
                    )  # fmt: skip


def _installed(network: str) -> Filter | None:
    """The installed filter called ``network``, else the first one of that architecture, else none."""
    installed = list_filters()
    named = next((item for item in installed if item.name == network), None)
    return named or next((item for item in installed if item.architecture == network), None)


def _first_frame(clip: Path) -> torch.Tensor:
    """The clip's first frame as RGB ``(3, H, W)`` uint8."""
    with av.open(str(clip)) as container:
        frame = next(container.decode(video=0))
        return torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1).contiguous()


def _notify(on_step: Callable[[str], None] | None, label: str) -> None:
    if on_step is not None:
        on_step(label)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
