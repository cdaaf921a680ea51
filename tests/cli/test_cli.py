"""The command line: bad input gets one line and its own exit code, never a traceback or a stray file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import (
    SAMPLE,
    assert_clean_failure,
    console,
    ctrl_c_enabled,
    make_video,
    no_leftovers,
    probe,
    run,
    write_filter,
)

from streamstyle import errors


def test_main_job_and_default_output_name(tiny_filter: Path, clip: Path) -> None:
    result = run(clip, "--style", "tiny", "--device", "cpu")
    assert result.exit_code == 0, result.output
    out = clip.with_name("clip.tiny.mp4")
    assert probe(out)["frames"] == 10
    assert "10 frames" in result.output


def test_filters_list_and_show(tiny_filter: Path) -> None:
    listing = run("filters")
    assert listing.exit_code == 0 and "tiny" in listing.output
    shown = run("filters", "show", "tiny")
    assert shown.exit_code == 0 and "(verified)" in shown.output and "johnson_in" in shown.output


def test_missing_input(tiny_filter: Path, tmp_path: Path) -> None:
    assert_clean_failure(run(tmp_path / "nope.mp4", "-s", "tiny"), errors.InputNotFoundError.exit_code, "nope.mp4")


def test_not_a_media_file(tiny_filter: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    assert_clean_failure(run(text, "-s", "tiny"), errors.InvalidMediaError.exit_code, "notes.mp4")
    assert no_leftovers(tmp_path)


def test_no_video_stream(tiny_filter: Path, tmp_path: Path) -> None:
    audio_only = tmp_path / "tone.m4a"
    with av.open(str(audio_only), "w") as container:
        stream = container.add_stream("aac", rate=48000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    assert_clean_failure(run(audio_only, "-s", "tiny"), errors.NoVideoStreamError.exit_code, "no video stream")
    assert no_leftovers(tmp_path)


def test_output_equal_to_input_is_refused(tiny_filter: Path, clip: Path) -> None:
    before = clip.read_bytes()
    assert_clean_failure(run(clip, "-s", "tiny", "-o", clip, "-y"), errors.OutputConflictError.exit_code)
    assert clip.read_bytes() == before


def test_existing_output_needs_overwrite(tiny_filter: Path, clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "taken.mp4"
    out.write_bytes(b"precious")
    assert_clean_failure(run(clip, "-s", "tiny", "-o", out), errors.OutputExistsError.exit_code, "--overwrite")
    assert out.read_bytes() == b"precious"
    assert run(clip, "-s", "tiny", "-o", out, "-y", "--device", "cpu").exit_code == 0
    assert probe(out)["frames"] == 10


def test_unknown_style_lists_the_known_ones(tiny_filter: Path, clip: Path) -> None:
    assert_clean_failure(run(clip, "-s", "nosuch"), errors.UnknownStyleError.exit_code, "nosuch", "tiny")


def test_corrupt_weights_fail_the_checksum(tiny_filter: Path, clip: Path, tmp_path: Path) -> None:
    weights = tiny_filter / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    out = tmp_path / "out.mp4"
    assert_clean_failure(run(clip, "-s", "tiny", "-o", out), errors.FilterError.exit_code, "checksum")
    assert not out.exists() and no_leftovers(tmp_path)


def test_invalid_graph_points_at_the_column(tiny_filter: Path, clip: Path) -> None:
    result = run(clip, "-vf", "stylize=tiny:strenght=0.5")
    assert_clean_failure(result, errors.GraphSyntaxError.exit_code, "unknown option 'strenght'")
    lines = result.output.splitlines()
    assert lines[-1].index("^") == lines[-2].index("strenght")


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--strength", "1.5"], 2),
        (["--batch-size", "0"], 2),
        (["--device", "cuda"], errors.DeviceError.exit_code),
        (["--device", "tpu"], errors.InvalidOptionError.exit_code),
        (["-o", "out.avi"], errors.InvalidOptionError.exit_code),
        (["--codec", "nosuchcodec"], errors.EncoderError.exit_code),
        (["-vf", "stylize=tiny"], errors.InvalidOptionError.exit_code),
    ],
)
def test_impossible_options(tiny_filter: Path, clip: Path, args: list[str], code: int, monkeypatch) -> None:
    if "cuda" in args and __import__("torch").cuda.is_available():
        pytest.skip("a CUDA device exists here")
    monkeypatch.chdir(clip.parent)
    assert_clean_failure(run(clip, "-s", "tiny", *args), code)
    assert no_leftovers(clip.parent)
    assert not (clip.parent / "out.avi").exists() and not (clip.parent / "clip.tiny.mp4").exists()


def test_truncated_input_keeps_what_decodes(tiny_filter: Path, tmp_path: Path) -> None:
    clip = make_video(tmp_path / "long.mkv", frames=40, size=(64, 48), audio=False)
    data = clip.read_bytes()
    clip.write_bytes(data[: len(data) * 6 // 10])
    out = tmp_path / "out.mp4"
    result = run(clip, "-s", "tiny", "-o", out, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "warning: " in result.output
    frames = probe(out)["frames"]
    assert 5 < frames < 40


def test_corrupt_packets_are_skipped_with_a_warning(tiny_filter: Path, tmp_path: Path) -> None:
    clip = make_video(tmp_path / "damaged.mkv", frames=40, size=(64, 48), audio=False)
    data = bytearray(clip.read_bytes())
    start, end = len(data) * 4 // 10, len(data) * 5 // 10
    data[start:end] = np.random.default_rng(1).integers(0, 256, end - start, dtype=np.uint8).tobytes()
    clip.write_bytes(bytes(data))
    out = tmp_path / "out.mp4"
    result = run(clip, "-s", "tiny", "-o", out, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "warning: " in result.output
    assert 10 < probe(out)["frames"] < 40


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_finishes_a_playable_file(tiny_filter: Path, tmp_path: Path, sig: signal.Signals) -> None:
    clip = make_video(tmp_path / "long.mp4", frames=1500, size=(320, 240), audio=True)
    out = tmp_path / "partial.mp4"
    env = {**os.environ, "STREAMSTYLE_FILTER_PATH": str(tiny_filter.parent)}
    command = [sys.executable, "-m", "streamstyle", str(clip), "-s", "tiny", "-o", str(out), "--device", "cpu"]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_enabled)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
        p.name.endswith(".part") and p.stat().st_size > 2_000 for p in tmp_path.iterdir()
    ):
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    frames = probe(out)["frames"]
    assert 0 < frames < 1500
    assert no_leftovers(tmp_path)


def test_graph_string_from_the_console_script(tmp_path: Path) -> None:
    (tmp_path / "in.mp4").write_bytes(SAMPLE.read_bytes())
    done = console("in.mp4", "-vf", "scale=w=160:h=-2,stylize=starry:strength=0.8", "-o", "out.mp4", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    source, result = probe(tmp_path / "in.mp4"), probe(tmp_path / "out.mp4")
    assert result["size"] == (160, 90) and result["frames"] == source["frames"]
    assert result["audio_codec"] and result["audio_packets"] == source["audio_packets"], "the audio is kept"


def test_options_before_the_input(tmp_path: Path) -> None:
    (tmp_path / "in.mp4").write_bytes(SAMPLE.read_bytes())
    done = console("-s", "starry", "--scale", "0.25", "-o", "out.mp4", "in.mp4", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert probe(tmp_path / "out.mp4")["frames"] == probe(tmp_path / "in.mp4")["frames"]


def test_style_options_and_a_graph_together_are_refused(tiny_filter: Path, clip: Path) -> None:
    result = run(clip, "-vf", "stylize=tiny", "--strength", "0.5")
    assert_clean_failure(result, errors.InvalidOptionError.exit_code, "not both")


def test_stage_options_are_checked_by_the_stage_schema(tiny_filter: Path, clip: Path) -> None:
    assert_clean_failure(run(clip, "-s", "tiny", "--tile", "banana"), 2, "auto, off or a tile side")
    assert_clean_failure(run(clip, "-s", "tiny", "--strength", "2"), 2, "must be in [0, 1]")
    assert_clean_failure(run(clip, "-s", "tiny", "--seg-size", "10"), 2, "--seg-size")


def test_an_empty_style_name_is_not_the_current_folder(tiny_filter: Path, clip: Path) -> None:
    assert_clean_failure(run(clip, "-s", ""), errors.UnknownStyleError.exit_code, "empty style name")


@pytest.mark.parametrize("rate", ["nan", "inf", "1e-9", "1e9"])
def test_impossible_frame_rates_are_refused(tiny_filter: Path, tmp_path: Path, rate: str) -> None:
    result = run(tmp_path / "frames" / "%03d.png", "-s", "tiny", "--fps", rate, "-o", tmp_path / "out.mp4")
    assert_clean_failure(result, 2, "--fps")
    assert not (tmp_path / "out.mp4").exists()


def test_a_broken_filter_on_the_path_does_not_hide_the_others(
    tiny_filter: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = tmp_path / "more"
    (extra / "broken").mkdir(parents=True)
    (extra / "broken" / "filter.toml").write_text("name = [unclosed")
    monkeypatch.setenv("STREAMSTYLE_FILTER_PATH", os.pathsep.join([os.environ["STREAMSTYLE_FILTER_PATH"], str(extra)]))
    listing = run("filters")
    assert listing.exit_code == 0, listing.output
    assert "tiny" in listing.output and "starry" in listing.output
    assert "warning: left out a broken filter" in listing.output and "broken" in listing.output
    assert_clean_failure(run("filters", "show", "broken"), errors.FilterError.exit_code, "broken")


def test_a_filter_that_outputs_nan_fails_instead_of_writing_black(tmp_path: Path, clip: Path) -> None:
    write_filter(tmp_path / "nan", name="nan", broken=True)
    out = tmp_path / "out.mp4"
    assert_clean_failure(run(clip, "-s", tmp_path / "nan", "-o", out), errors.FilterError.exit_code, "NaN")
    assert not out.exists() and no_leftovers(tmp_path)


@pytest.mark.parametrize(
    ("extra", "code", "words"),
    [
        (["--codec", "aac"], errors.EncoderError.exit_code, "audio encoder"),
        (["-f", "nosuchformat"], errors.InvalidOptionError.exit_code, "no output format 'nosuchformat'"),
        (["--input-format", "nosuchdemuxer"], errors.InvalidOptionError.exit_code, "no input format"),
        (["-f", "lavfi"], errors.InvalidOptionError.exit_code, "no output format 'lavfi'"),
    ],
)
def test_unknown_formats_and_codecs_are_one_line(
    tiny_filter: Path, clip: Path, extra: list[str], code: int, words: str
) -> None:
    out = clip.with_name("formats.mp4")
    assert_clean_failure(run(clip, "-s", "tiny", "-o", out, *extra), code, words)
    assert not out.exists() and no_leftovers(clip.parent)


def test_a_file_given_as_a_filter_folder(tiny_filter: Path, clip: Path) -> None:
    result = run(clip, "-s", f"{clip.parent}/{clip.name}")
    assert_clean_failure(result, errors.FilterError.exit_code, "not a filter folder")


def test_an_output_that_is_a_folder_is_refused_even_with_y(tiny_filter: Path, clip: Path) -> None:
    folder = clip.with_name("taken.mp4")
    folder.mkdir()
    assert_clean_failure(run(clip, "-s", "tiny", "-o", folder, "-y"), errors.OutputConflictError.exit_code, "folder")
    assert folder.is_dir() and not any(folder.iterdir()) and no_leftovers(clip.parent)


def test_a_longest_legal_output_name_works(tiny_filter: Path, clip: Path) -> None:
    out = clip.with_name("n" * 251 + ".mp4")  # 255 bytes: the most a file name may have
    result = run(clip, "-s", "tiny", "-o", out)
    assert result.exit_code == 0, result.output
    assert probe(out)["frames"] == 10 and no_leftovers(clip.parent)


def test_every_stylize_and_segment_option_is_on_the_command_line() -> None:
    from streamstyle.cli.stylize import stylize
    from streamstyle.stages import Segment, Stylize

    offered = {param.name for param in stylize.params}
    for stage in (Stylize, Segment):
        missing = [p.name for p in stage.params if f"{stage.name}__{p.name}" not in offered and not p.primary]
        assert not missing, f"{stage.name} options missing from the command line: {missing}"
    assert "segment__classes" in offered  # a primary param offered under its own name


def test_file_urls_name_their_path_and_cannot_overwrite_the_input(
    tiny_filter: Path, clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = clip.read_bytes()
    result = run(f"file://{clip}", "-s", "tiny", "-o", clip, "-y")
    assert_clean_failure(result, errors.OutputConflictError.exit_code, "input")
    assert clip.read_bytes() == before
    monkeypatch.chdir(clip.parent)
    relative = run(f"file:{clip.name}", "-s", "tiny", "-o", "from_url.mp4")
    assert relative.exit_code == 0, relative.output
    assert probe(clip.parent / "from_url.mp4")["frames"] == 10
