"""File-to-file frames per second: the streamstyle engine against the naive per-frame loop.

The naive loop is what pytorch/examples-style scripts do: decode a frame, numpy -> tensor on
the host, the network in fp32 at batch 1, tensor -> numpy, encode; no audio. The engine is
`streamstyle.stylize_file` (threads for decode and encode, batches, fp16 + channels_last on
CUDA, audio remuxed). Both run in one process on the same input, alternating, so machine
noise hits both; the median of the rounds is reported with the model-only speed.

    python bench/throughput.py [--input samples/sample.mp4] [--device cpu] [--rounds 3]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import av
import torch
from random_filter import write_random_filter

from streamstyle import Stylize, stylize_file

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "sample.mp4"


def naive_loop(path: Path, out: Path, model: torch.nn.Module, device: torch.device) -> tuple[float, int]:
    """Seconds and frames of the per-frame loop, file to file."""
    start = time.perf_counter()
    frames = 0
    with av.open(str(path)) as source, av.open(str(out), "w") as sink:
        video = source.streams.video[0]
        stream = sink.add_stream("libx264", rate=video.average_rate or 25)
        stream.width, stream.height, stream.pix_fmt = video.width, video.height, "yuv420p"
        stream.options = {"crf": "18"}
        for frame in source.decode(video):
            rgb = torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1)[None].float().to(device)
            with torch.no_grad():
                styled = model(rgb).clamp(0, 255).byte()[0].permute(1, 2, 0).cpu().numpy()
            result = av.VideoFrame.from_ndarray(styled, format="rgb24")
            result.pts = frames
            sink.mux(stream.encode(result))
            frames += 1
        sink.mux(stream.encode(None))
    return time.perf_counter() - start, frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, default=SAMPLE)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=None, help="default: the engine's (1 on CPU, 4 on CUDA)")
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"# {name}, torch {torch.__version__}, {torch.get_num_threads()} threads, input {args.input.name}")
    with tempfile.TemporaryDirectory() as scratch:
        folder = write_random_filter(Path(scratch) / "random_johnson_in")
        model = Stylize(str(folder)).filter.load_model().to(device)
        naive, engine = [], []
        for round_index in range(args.rounds):
            seconds, frames = naive_loop(args.input, Path(scratch) / f"naive{round_index}.mp4", model, device)
            naive.append(frames / seconds)
            summary = stylize_file(
                args.input, Path(scratch) / f"engine{round_index}.mp4", style=str(folder),
                device=args.device, batch_size=args.batch_size,
            )  # fmt: skip
            engine.append(summary.fps)
    naive_fps, engine_fps = statistics.median(naive), statistics.median(engine)
    print(f"naive per-frame loop (fp32, batch 1, no audio): {naive_fps:.3f} fps")
    print(f"streamstyle engine (batch {args.batch_size or 'auto'}, audio remuxed):   {engine_fps:.3f} fps")
    print(f"engine / naive: {engine_fps / naive_fps:.2f}x  (median of {args.rounds} rounds each)")


if __name__ == "__main__":
    main()
