"""End to end through stylize_file: real encoded input, real encoder, real muxer."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from conftest import CPU, make_video, moving_pattern, probe

from streamstyle import Pipeline, build_graph, open_source, stylize_file
from streamstyle.files import ComputeOptions, OutputOptions, default_output_path
from streamstyle.io import sinks
from streamstyle.stages import Stylize


def test_frames_duration_size_and_audio_survive(tiny_filter: Path, clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    summary = stylize_file(clip, out, style="tiny", compute=ComputeOptions(device="cpu", batch_size=3))
    before, after = probe(clip), probe(out)
    assert summary.frames == 10 and not summary.interrupted
    assert after["frames"] == before["frames"] == 10
    assert after["size"] == before["size"] == (64, 48)
    assert after["times"] == pytest.approx(before["times"], abs=1e-3)
    assert after["duration"] == pytest.approx(before["duration"], abs=20_000)
    assert after["audio_codec"] == "aac"
    assert after["audio_packets"] == before["audio_packets"] > 0
    assert after["audio_end"] == pytest.approx(before["audio_end"], abs=1e-3)
    assert after["codec"] == "h264" and after["pix_fmt"] == "yuv420p"
    difference = np.abs(after["rgb"][0].astype(int) - before["rgb"][0].astype(int)).mean()
    assert difference > 10, "the output should be stylised, not a copy"


def test_variable_frame_rate_timestamps_are_kept(tiny_filter: Path, tmp_path: Path) -> None:
    stamps = [0, 40, 200, 240, 600, 633, 1000]  # ms, deliberately irregular
    clip = make_video(tmp_path / "vfr.mkv", pts=stamps, audio=False)
    out = tmp_path / "vfr_out.mkv"
    stylize_file(clip, out, style="tiny", compute=CPU)
    assert probe(out)["times"] == pytest.approx([s / 1000 for s in stamps], abs=1e-3)


@pytest.mark.parametrize("size", [(65, 49), (33, 50), (50, 33)])
def test_odd_sizes_keep_the_input_size(tiny_filter: Path, tmp_path: Path, size: tuple[int, int]) -> None:
    clip = make_video(tmp_path / "odd.mp4", size=size, frames=3, audio=False)
    out = tmp_path / "odd_out.mp4"
    stylize_file(clip, out, style="tiny", compute=CPU)
    info = probe(out)
    assert info["size"] == size and info["frames"] == 3
    assert info["pix_fmt"] == "yuv444p"  # 4:2:0 cannot hold odd sizes in H.264


def test_rotation_metadata_is_kept(tiny_filter: Path, tmp_path: Path) -> None:
    clip = make_video(tmp_path / "rot.mp4", rotation=90, frames=3, audio=False)
    out = tmp_path / "rot_out.mp4"
    stylize_file(clip, out, style="tiny", compute=CPU)
    assert probe(out)["rotation"] == 90
    assert probe(out)["size"] == (64, 48)


@pytest.mark.parametrize(
    ("suffix", "video_codec", "audio_codec"),
    [
        (".mkv", "h264", "aac"),
        (".mov", "h264", "aac"),
        (".webm", "vp9", "opus"),
    ],
)
def test_containers_by_extension(
    tiny_filter: Path, clip: Path, tmp_path: Path, suffix: str, video_codec: str, audio_codec: str
) -> None:
    out = tmp_path / f"out{suffix}"
    stylize_file(clip, out, style="tiny", compute=CPU, sink=OutputOptions(crf=30))
    info = probe(out)
    assert info["frames"] == 10 and info["size"] == (64, 48)
    assert info["codec"] == video_codec
    assert info["audio_codec"] == audio_codec  # AAC cannot go in webm: transcoded to Opus
    assert info["audio_end"] == pytest.approx(1.0, abs=0.03)


def test_codec_option_and_fallback_names(tiny_filter: Path, clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "mpeg4.mp4"
    stylize_file(clip, out, style="tiny", compute=CPU, sink=OutputOptions(codec="mpeg4"))
    assert probe(out)["codec"] == "mpeg4" and probe(out)["frames"] == 10


def test_strength_zero_is_the_input_and_one_is_not(tiny_filter: Path, tmp_path: Path) -> None:
    image = tmp_path / "photo.png"
    av.VideoFrame.from_ndarray(moving_pattern(0, 40, 30), format="rgb24").to_image().save(image)
    zero, full = tmp_path / "zero.png", tmp_path / "full.png"
    stylize_file(image, zero, stages=[Stylize("tiny", strength=0.0)], compute=CPU)
    stylize_file(image, full, stages=[Stylize("tiny", strength=1.0)], compute=CPU)
    original = np.asarray(av.open(str(image)).decode(video=0).__next__().to_ndarray(format="rgb24"))
    assert np.array_equal(_read(zero), original)
    assert np.abs(_read(full).astype(int) - original).mean() > 10


def test_preserve_color_keeps_the_input_chroma(tiny_filter: Path, tmp_path: Path) -> None:
    image = tmp_path / "photo.png"
    av.VideoFrame.from_ndarray(moving_pattern(0, 40, 30), format="rgb24").to_image().save(image)
    plain, kept = tmp_path / "plain.png", tmp_path / "kept.png"
    stylize_file(image, plain, style="tiny", compute=CPU)
    stylize_file(image, kept, stages=[Stylize("tiny", preserve_color=True)], compute=CPU)
    original = _read(image).astype(float)

    def chroma(rgb: np.ndarray) -> np.ndarray:
        return rgb - (rgb @ np.array([0.299, 0.587, 0.114]))[..., None]

    assert (
        np.abs(chroma(_read(kept)) - chroma(original)).mean()
        < 0.5 * np.abs(chroma(_read(plain)) - chroma(original)).mean()
    )


def test_processing_scale_keeps_output_size(tiny_filter: Path, clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "half.mp4"
    stylize_file(clip, out, stages=[Stylize("tiny", scale=0.5)], compute=CPU)
    assert probe(out)["size"] == (64, 48)


def test_graph_string_equals_the_flags(tiny_filter: Path, clip: Path) -> None:
    by_flags = [Stylize("tiny", strength=0.5, preserve_color=True, scale=0.5)]
    by_graph = build_graph("stylize=tiny:strength=0.5:preserve_color=1:scale=0.5")
    outputs = []
    for stages in (by_flags, by_graph):
        with Pipeline(open_source(clip), stages, device="cpu") as pipeline:
            outputs.append(torch.cat([batch.pixels for batch in pipeline]))
    assert outputs[0].shape == (10, 3, 48, 64)
    assert torch.equal(outputs[0], outputs[1])


def test_scale_stage_changes_output_size(tiny_filter: Path, clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "small.mp4"
    stylize_file(clip, out, stages="scale=w=32:h=-2,stylize=tiny", compute=CPU)
    assert probe(out)["size"] == (32, 24)


def test_still_image_gets_its_own_type(tiny_filter: Path, tmp_path: Path) -> None:
    image = tmp_path / "photo.jpg"
    av.VideoFrame.from_ndarray(moving_pattern(0, 41, 31), format="rgb24").to_image().save(image)
    stylize_file(image, style="tiny", compute=CPU)
    out = tmp_path / "photo.tiny.jpg"
    assert out.is_file() and _read(out).shape == (31, 41, 3)


def test_default_output_name(tiny_filter: Path) -> None:
    stages = [Stylize("tiny")]
    assert default_output_path("/videos/holiday.MOV", stages) == Path("/videos/holiday.tiny.mp4")
    assert default_output_path("photo.png", stages) == Path("photo.tiny.png")
    assert default_output_path("https://example.org/live/cam.m3u8?x=1", stages) == Path("cam.tiny.mp4")
    for live in ("camera:0", "/dev/video2", "lavfi:testsrc", "-", "frames/%05d.png"):
        assert default_output_path(live, stages) == Path("stream.tiny.mp4"), live


def _read(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_url_input_over_http(tiny_filter: Path, clip: Path, tmp_path: Path) -> None:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(clip.parent))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/{clip.name}"
        out = tmp_path / "from_http.mp4"
        summary = stylize_file(url, out, style="tiny", compute=CPU)
        server.shutdown()
    assert summary.frames == 10
    assert probe(out)["audio_packets"] == probe(clip)["audio_packets"]


def test_missing_h264_encoder_falls_back(
    tiny_filter: Path, clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sinks, "H264_CODECS", ("libx264_absent_here", "mpeg4"))
    out = tmp_path / "fallback.mp4"
    stylize_file(clip, out, style="tiny", compute=CPU)
    assert probe(out)["codec"] == "mpeg4" and probe(out)["frames"] == 10
    assert "libx264_absent_here is not available; encoding with mpeg4" in caplog.text
