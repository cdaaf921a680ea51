"""``streamstyle batch`` here and on Ray with 1 and 2 workers: files/s and frames/s, side by side in one run.

Copies the bundled sample (75 frames of 640x360 with audio) ``--files`` times into a temporary
folder and runs, as a user types them (the console script):

- ``batch`` in one process (all cores);
- ``batch --ray`` with one worker of all cores, and with two workers of half the cores each.

Each run's wall time includes its start (Ray's, and each worker's import of PyTorch); the
time to the first finished file is printed apart, and from the per-file time and that start
the time N workers (N GPUs) would take is projected: start + ceil(files / N) x per-file time.

Then the cost of cutting one long video in pieces (``--split``), in this process: the sample
re-encoded ``--repeat`` times with a key frame every second, stylised whole and in pieces of
``--piece`` seconds (one after the other), with ``--stability 0.5`` so the pieces warm up. The
overhead is split into the pieces' starts and warm-up frames and the join (remux); the result
is compared frame by frame with the whole run (PSNR, and the warping error at the seams).

    python bench/scale.py                 # 4 files
    python bench/scale.py --files 8 --style wave --repeat 8
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from streamstyle.batch import BatchSettings, Job
from streamstyle.batch.jobs import run_job, run_piece_of
from streamstyle.batch.pieces import MIN_PIECE_SECONDS, join_pieces, split_job
from streamstyle.files import resolve_stages
from streamstyle.graph import build_graph
from streamstyle.temporal.flow import correspondence, gray
from streamstyle.temporal.metrics import pair_error

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "sample.mp4"
SAMPLE_FRAMES = 75


def timed_batch(inputs: Path, out: Path, style: str, extra: list[str]) -> tuple[float, float]:
    """Wall seconds of a batch, and seconds until its first output appeared."""
    command = ["streamstyle", "batch", str(inputs), "-o", str(out), "-s", style, "-q", *extra]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = math.nan
    while process.poll() is None:
        if math.isnan(first) and out.exists() and any(out.glob("*.mp4")):
            first = time.perf_counter() - started
        time.sleep(0.05)
    wall = time.perf_counter() - started
    _, stderr = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}): {stderr.strip()[-500:]}")
    return wall, first if not math.isnan(first) else wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--style", default="starry")
    parser.add_argument("--repeat", type=int, default=4, help="sample copies in the long video of the split test")
    parser.add_argument("--piece", type=float, default=2.0, help="seconds per piece in the split test")
    parser.add_argument("--skip-ray", action="store_true", help="only the split test")
    args = parser.parse_args()
    if not args.skip_ray:
        compare_runs(args)
    with tempfile.TemporaryDirectory() as folder:
        split_overhead(Path(folder), args.style, args.repeat, args.piece)


def compare_runs(args: argparse.Namespace) -> None:
    """The batch here and on Ray with 1 and 2 workers, and the projection to N workers."""
    cores = os.cpu_count() or 1
    runs = {
        "here, 1 process": [],
        "ray, 1 worker": ["--ray", "--cpus-per-worker", str(cores)],
        "ray, 2 workers": ["--ray", "--cpus-per-worker", str(max(1, cores // 2))],
    }
    frames = args.files * SAMPLE_FRAMES
    print(f"# {args.files} files x {SAMPLE_FRAMES} frames of 640x360, style {args.style}, {cores} cores")
    print(f"{'run':<16} {'wall s':>7} {'first s':>8} {'files/s':>8} {'frames/s':>9}")
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        inputs = Path(folder) / "in"
        inputs.mkdir()
        for index in range(args.files):
            shutil.copy(SAMPLE, inputs / f"clip{index:02d}.mp4")
        for name, extra in runs.items():
            out = Path(folder) / name.replace(" ", "").replace(",", "_")
            wall, first = timed_batch(inputs, out, args.style, extra)
            results[name] = (wall, first)
            print(f"{name:<16} {wall:7.1f} {first:8.1f} {args.files / wall:8.3f} {frames / wall:9.2f}")
    one, two = results["ray, 1 worker"][0], results["ray, 2 workers"][0]
    print(f"# 2 workers against 1 on Ray: {one / two:.2f}x; Ray against one process: "
          f"{results['here, 1 process'][0] / one:.2f}x")  # fmt: skip
    wall, first = results["ray, 1 worker"]
    per_file = (wall - first) / max(1, args.files - 1)
    start = first - per_file
    print(f"# measured: start {start:.1f} s (Ray and a worker), {per_file:.1f} s per file per worker")
    for workers in (1, 2, 4, 8):
        projected = start + math.ceil(args.files / workers) * per_file
        print(f"# projected, {workers} worker(s) of this speed: {projected:.1f} s for {args.files} files")


def long_video(path: Path, repeat: int) -> Path:
    """The sample's frames ``repeat`` times over, a key frame every second, with a tone as audio."""
    with av.open(str(SAMPLE)) as sample:
        frames = [frame.to_ndarray(format="rgb24") for frame in sample.decode(video=0)]
        rate = sample.streams.video[0].average_rate
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=rate)
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt, video.codec_context.gop_size = "yuv420p", round(rate)
        audio = container.add_stream("aac", rate=48000)
        audio.layout = "mono"
        for index in range(repeat * len(frames)):
            frame = av.VideoFrame.from_ndarray(frames[index % len(frames)], format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        samples = int(repeat * len(frames) / rate * 48000)
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / 48000)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = av.AudioFrame.from_ndarray(tone[start : start + 1024].reshape(1, -1), format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts = 48000, start
            container.mux(audio.encode(chunk))
        container.mux(audio.encode(None))
    return path


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def split_overhead(folder: Path, style: str, repeat: int, seconds: float) -> None:
    """Whole against pieces, in this process: the overhead's parts and how close the results are."""
    source = long_video(folder / "long.mp4", repeat)
    settings = BatchSettings(f"stylize={style}", stability=0.5)
    memory = max(stage.memory_frames for stage in resolve_stages(None, build_graph(settings.graph), None, 0.5))
    started = time.perf_counter()
    whole = run_job(Job(source, folder / "whole.mp4"), settings)
    whole_seconds = time.perf_counter() - started
    pieces = split_job(Job(source, folder / "split.mp4"), seconds)
    started = time.perf_counter()
    results = [run_piece_of(piece, settings) for piece in pieces]
    pieces_seconds = time.perf_counter() - started
    if whole.status != "done" or any(result.status != "done" for result in results):
        raise SystemExit(f"the split test failed: {whole.error or [r.error for r in results]}")
    started = time.perf_counter()
    join_pieces(pieces)
    join_seconds = time.perf_counter() - started
    overhead = pieces_seconds + join_seconds - whole_seconds
    print(f"# split: {whole.frames} frames of 640x360, --stability 0.5 ({memory} warm-up frames a piece), "
          f"{len(pieces)} pieces of {seconds:g} s run one after the other")  # fmt: skip
    print(f"whole {whole_seconds:.1f} s; pieces {pieces_seconds:.1f} s (frames stylised: "
          f"{whole.frames + memory * (len(pieces) - 1)}) + join (remux) {join_seconds:.2f} s")  # fmt: skip
    print(f"# overhead {overhead:.1f} s = {overhead / whole_seconds:.1%} of the whole run: "
          f"{(pieces_seconds - whole_seconds) / max(1, len(pieces) - 1):.2f} s per extra piece (its start and "
          f"warm-up), join {join_seconds / whole_seconds:.2%}")  # fmt: skip
    ours, theirs, original = decoded(folder / "split.mp4"), decoded(folder / "whole.mp4"), decoded(source)
    psnr = [10 * np.log10(255**2 / max(np.mean((a.astype(float) - b.astype(float)) ** 2), 1e-10))
            for a, b in zip(ours, theirs, strict=True)]  # fmt: skip
    print(f"# split against whole: {len(ours)} and {len(theirs)} frames, PSNR min {min(psnr):.1f} dB, "
          f"mean {np.mean(psnr):.1f} dB (two encodes at crf 18)")  # fmt: skip
    seams = [round(piece.start * piece.time_base * piece.rate) for piece in pieces[1:]]
    errors = {"split": [], "whole": []}
    for at in range(1, len(original)):
        match = correspondence(gray(original[at - 1]), gray(original[at]))
        for name, frames in (("split", ours), ("whole", theirs)):
            errors[name].append(pair_error(frames[at - 1], frames[at], match))
    for name, values in errors.items():
        at_seams = [values[at - 1] for at in seams]
        print(f"# warping error of {name}: mean {np.mean(values):.5f} over all pairs, "
              f"{np.mean(at_seams):.5f} at the seams (frames {', '.join(map(str, seams))})")  # fmt: skip
    per_frame = whole_seconds / whole.frames
    per_piece = (pieces_seconds - whole_seconds) / max(1, len(pieces) - 1)
    project_film(per_frame, per_piece, join_seconds / whole.frames, float(pieces[0].rate))


def project_film(per_frame: float, per_piece: float, join_per_frame: float, rate: float, minutes: int = 60) -> None:
    """On paper: a film on N workers of this speed, cut as ``--split auto`` cuts it, from the measured costs."""
    frames = minutes * 60 * rate
    alone = frames * per_frame
    print(f"# projected, a {minutes}-minute film at {rate:g} fps: {alone / 3600:.2f} h on one worker")
    for workers in (2, 4, 8, 16):
        seconds = max(MIN_PIECE_SECONDS, minutes * 60 / (4 * workers))
        count = math.ceil(minutes * 60 / seconds)
        total = alone / workers + math.ceil(count / workers) * per_piece + frames * join_per_frame
        print(f"#   {workers:2d} workers: {count} pieces of {seconds:.0f} s, {total / 3600:.2f} h "
              f"({alone / total:.2f}x, {alone / total / workers:.0%} of linear)")  # fmt: skip


if __name__ == "__main__":
    main()
