"""The README's commands, run as a user types them: the console script, in a fresh folder, on the bundled sample.

Every command line of the README's ``bash`` blocks is either run here (:data:`RUN`, with what a
user would check afterwards) or excused with the reason it cannot run on a test machine
(:data:`EXCUSED`); a new README command that is neither fails :func:`test_every_readme_command_is_run_or_excused`,
so the documentation and the behaviour cannot drift apart.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from conftest import SAMPLE, probe

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_PHOTO = ROOT / "samples" / "sample.jpg"
PAINTING = ROOT / "filters" / "starry" / "style.jpg"  # public domain, bundled
SHORT_FRAMES = 12
"""Frames of the short cut of the sample that the commands on ``in.mp4`` and ``talk.mkv`` get."""


def readme_commands() -> list[str]:
    """Every command line of the README's ``bash`` blocks, continuation lines joined, comments dropped."""
    text = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            command = re.sub(r"\s+#\s.*$", "", line).strip()
            if command:
                commands.append(re.sub(r"\s+", " ", command))
    return commands


def short_cut(source: Path, target: Path, frames: int = SHORT_FRAMES) -> Path:
    """The first ``frames`` frames of ``source``, re-encoded, with the audio of the same span copied."""
    with av.open(str(source)) as given, av.open(str(target), "w") as cut:
        video_in, audio_in = given.streams.video[0], given.streams.audio[0]
        video = cut.add_stream("libx264", rate=video_in.average_rate)
        video.width, video.height, video.pix_fmt = video_in.width, video_in.height, "yuv420p"
        audio = cut.add_stream_from_template(audio_in)
        end = 0.0
        for frame in itertools.islice(given.decode(video_in), frames):
            frame.pict_type = av.video.frame.PictureType.NONE
            cut.mux(video.encode(frame))
            end = float(frame.time) + float(1 / video_in.average_rate)
        cut.mux(video.encode(None))
        given.seek(0)
        for packet in given.demux(audio_in):
            if packet.dts is not None and packet.pts * packet.time_base < end:
                packet.stream = audio
                cut.mux(packet)
    return target


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh folder with what the README's commands name: the sample, a photo, a painting, short clips."""
    folder = tmp_path_factory.mktemp("readme")
    (folder / "samples").mkdir()
    shutil.copy(SAMPLE, folder / "samples" / "sample.mp4")
    shutil.copy(SAMPLE_PHOTO, folder / "photo.jpg")
    shutil.copy(PAINTING, folder / "painting.jpg")
    short_cut(SAMPLE, folder / "in.mp4")
    with av.open(str(folder / "in.mp4")) as clip, av.open(str(folder / "talk.mkv"), "w") as mkv:
        streams = {s.index: mkv.add_stream_from_template(s) for s in clip.streams}
        for packet in clip.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                mkv.mux(packet)
    (folder / "frames").mkdir()
    (folder / "out").mkdir()
    with av.open(str(folder / "in.mp4")) as clip:
        for index, frame in enumerate(clip.decode(video=0)):
            frame.to_image().save(folder / "frames" / f"{index:05d}.png")
    return folder


def typed(command: str, folder: Path, **extra: object) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in a shell in ``folder``, as a user types it."""
    return subprocess.run(command, shell=True, cwd=folder, capture_output=True, text=True, timeout=600, **extra)  # type: ignore[call-overload]


def frames_and_audio(path: Path) -> tuple[int, tuple[int, int], str | None]:
    info = probe(path)
    return info["frames"], info["size"], info["audio_codec"]  # type: ignore[return-value]


def check_main(folder: Path, done: subprocess.CompletedProcess[str]) -> None:
    source, result = probe(folder / "samples" / "sample.mp4"), probe(folder / "samples" / "sample.starry.mp4")
    assert result["frames"] == source["frames"] == 75 and result["size"] == source["size"]
    assert result["audio_packets"] == source["audio_packets"] > 0, "the audio is kept, packet for packet"
    assert np.abs(result["rgb"][10].astype(int) - source["rgb"][10]).mean() > 10, "the frames are stylised"


def check_photo(folder: Path, done: subprocess.CompletedProcess[str]) -> None:
    with av.open(str(folder / "photo.jpg")) as photo, av.open(str(folder / "photo.starry.jpg")) as styled:
        original, result = next(photo.decode(video=0)), next(styled.decode(video=0))
    assert (result.width, result.height) == (original.width, original.height)


def check_talk(folder: Path, done: subprocess.CompletedProcess[str]) -> None:
    assert frames_and_audio(folder / "talk_styled.mkv") == (SHORT_FRAMES, (640, 360), "aac")


def check_graph(folder: Path, done: subprocess.CompletedProcess[str]) -> None:
    assert frames_and_audio(folder / "out.webm") == (SHORT_FRAMES, (1280, 720), "opus")


def check_filters(folder: Path, done: subprocess.CompletedProcess[str]) -> None:
    for name in ("starry", "wave", "scream"):
        assert name in done.stdout


def check_filter_show(folder: Path, done: subprocess.CompletedProcess[str]) -> None:
    assert "Starry Night" in done.stdout and "sha256" in done.stdout


def check_warping_error(folder: Path, done: subprocess.CompletedProcess[str]) -> None:
    assert re.search(r"\d\.\d+", done.stdout + done.stderr), done.stdout


def check_sequence(folder: Path, done: subprocess.CompletedProcess[str]) -> None:
    assert sorted(p.name for p in (folder / "out").glob("*.png")) == [
        f"{k:05d}.png" for k in range(1, SHORT_FRAMES + 1)
    ]


def check_onnx(folder: Path, done: subprocess.CompletedProcess[str]) -> None:
    onnx = pytest.importorskip("onnx", reason="ONNX export needs the export extra")
    onnx.checker.check_model(str(folder / "starry.onnx"))
    assert not list(folder.glob("*.data")), "one self-contained file"


def check_torchscript(folder: Path, done: subprocess.CompletedProcess[str]) -> None:
    network = torch.jit.load(str(folder / "starry.pt"))
    assert network(torch.rand(1, 3, 40, 56) * 255).shape == (1, 3, 40, 56)


Check = Callable[[Path, subprocess.CompletedProcess[str]], None]


def check_batch(style: str, *names: str) -> Check:
    """The batch wrote ``names`` below ``styled/`` (every frame, the audio) and its table says so."""

    def check(folder: Path, done: subprocess.CompletedProcess[str]) -> None:
        for name in names:
            assert frames_and_audio(folder / "styled" / name)[::2] == (SHORT_FRAMES, "aac"), name
        assert done.stdout.splitlines()[-1] == f"{len(names)} done, 0 skipped, 0 failed", done.stdout
        assert all(f".{style}." in name for name in names)

    return check


CLIPS = "mkdir -p clips/sub && cp in.mp4 clips/ && cp talk.mkv clips/sub/ && rm -rf styled"
"""What the README's batch commands read: a folder of clips (one in a subfolder); no outputs yet."""
RUN: dict[str, tuple[str | None, Check]] = {
    "streamstyle samples/sample.mp4 --style starry": (None, check_main),
    "streamstyle photo.jpg --style starry": (None, check_photo),
    "streamstyle talk.mkv -s starry --strength 0.7 --preserve-color -o talk_styled.mkv": (None, check_talk),
    'streamstyle in.mp4 -vf "scale=w=1280:h=-2,stylize=starry:strength=0.8" -o out.webm': (None, check_graph),
    "streamstyle filters": (None, check_filters),
    "streamstyle filters show starry": (None, check_filter_show),
    "streamstyle evaluate-video in.mp4 in.starry.mp4": ("streamstyle in.mp4 --style starry -q", check_warping_error),
    'streamstyle "frames/%05d.png" -s starry --fps 24 -o "out/%05d.png"': (None, check_sequence),
    "streamstyle export starry --format onnx": (None, check_onnx),
    "streamstyle export starry --format torchscript": (None, check_torchscript),
    "streamstyle batch clips/ -o styled/ --style starry": (
        CLIPS,
        check_batch("starry", "in.starry.mp4", "sub/talk.starry.mp4"),
    ),
    'streamstyle batch "clips/**/*.mkv" in.mp4 -o styled/ -s wave --crf 20': (
        CLIPS,
        check_batch("wave", "sub/talk.wave.mp4", "in.wave.mp4"),
    ),
    "streamstyle batch clips/ -o styled/ --style starry --ray": (
        CLIPS,
        check_batch("starry", "in.starry.mp4", "sub/talk.starry.mp4"),
    ),
}
"""README command -> (a command that makes what it reads, or None; what a user checks afterwards)."""

EXCUSED: dict[str, str] = {
    'pip install -e ".[dev]"': "the install itself: CI runs it first",
    "python -m pytest": "this test suite",
    'pip install -e ".[ray]"': "an install; CI installs the dev extra, which holds ray",
    "ray start --head --port 6379": "starts a cluster; tests/batch runs batches on a local Ray instance",
    "ray start --address HEAD:6379": "needs a second machine",
    "streamstyle batch /shared/clips -o /shared/styled -s starry --ray auto": (
        "needs a cluster and a shared folder; the --ray command above runs on a local Ray instance"
    ),
    "streamstyle batch film.mkv -o styled/ -s starry --ray auto --split 60": (
        "needs a long film and a cluster; tests/batch splits a clip in 3 pieces with the console script, "
        "here and on a local Ray instance"
    ),
    "streamstyle INPUT --style NAME [-o OUTPUT] [options]": "a synopsis, not a command",
    "streamstyle optimize photo.jpg painting.jpg -o out.png": (
        "needs VGG16 weights; test_optimize_without_vgg16_says_how runs it without them"
    ),
    "streamstyle bench": "minutes of measurement; tests/test_benchmark.py runs the bench command on small sizes",
    "streamstyle camera": "needs a camera and a display",
    "streamstyle camera /dev/video2 -s starry -s wave --virtual-camera": "needs a camera and v4l2loopback",
    'streamstyle "tcp://0.0.0.0:9000?listen=1" -s starry -o udp://239.0.0.1:1234': (
        "a multicast destination; tests/io/test_live_io.py streams tcp in and udp out on 127.0.0.1"
    ),
    "streamstyle rtsp://0.0.0.0:8554/live --input-option rtsp_flags=listen -s starry -o rtmp://server/app/key": (
        "needs an RTMP server; tests/io/test_live_io.py covers rtsp listen"
    ),
    "streamstyle rtsp://camera.local/stream -s starry --reconnect 60 -o out.mkv": (
        "needs a camera on the network; tests/io/test_live_io.py covers --reconnect"
    ),
    'streamstyle "lavfi:testsrc=size=640x360:rate=30" -s starry --preview': "needs a display; endless",
    "ffmpeg -i in.mp4 -f mpegts - | streamstyle - -s starry -o - | ffplay -": (
        "needs ffmpeg and ffplay; test_the_pipe_of_the_readme runs its streamstyle part"
    ),
    'streamstyle train painting.jpg --data photos/ --name mystyle --title "My painting" --artist "Me" '
    "--year 2026 --licence CC0-1.0": "hours of training; tests/train/test_trainer.py trains a few steps",
    "streamstyle train painting.jpg --data photos/ --name mystyle --resume": (
        "hours of training; tests/train cover --resume"
    ),
    "torchrun --nproc-per-node 4 -m streamstyle train painting.jpg --data photos/ --name mystyle": "needs 4 GPUs",
    "streamstyle train a.jpg b.jpg c.jpg --arch stylebank --data photos/ --name bank": "hours of training",
    "streamstyle train d.jpg --arch stylebank --add-style filters/bank --data photos/ --name bank2": (
        "hours of training"
    ),
    "streamstyle train painting.jpg --fine-tune filters/mystyle --temporal-weight 0.01 --data photos/ --name steady": (
        "hours of training"
    ),
    "streamstyle evaluate mystyle --images test_photos/": "needs a trained mystyle and VGG weights",
}
"""README command -> why it does not run on a test machine (and what covers it instead)."""


def test_every_readme_command_is_run_or_excused() -> None:
    commands = readme_commands()
    assert "streamstyle samples/sample.mp4 --style starry" in commands
    missing = [command for command in commands if command not in RUN and command not in EXCUSED]
    assert not missing, f"README commands neither run by this test nor excused: {missing}"
    stale = [command for command in [*RUN, *EXCUSED] if command not in commands]
    assert not stale, f"commands no longer in the README: {stale}"


@pytest.mark.parametrize("command", list(RUN))
def test_readme_command(workspace: Path, command: str) -> None:
    setup, check = RUN[command]
    if setup is not None:
        prepared = typed(setup, workspace)
        assert prepared.returncode == 0, prepared.stderr
    done = typed(command, workspace)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "error" not in done.stderr.lower(), done.stderr
    check(workspace, done)


def test_the_pipe_of_the_readme(workspace: Path) -> None:
    """``ffmpeg ... | streamstyle - -s starry -o - | ffplay -``: its streamstyle part, MPEG-TS in and out."""
    with av.open(str(workspace / "in.mp4")) as clip, av.open(str(workspace / "in.ts"), "w", format="mpegts") as ts:
        streams = {s.index: ts.add_stream_from_template(s) for s in clip.streams}
        for packet in clip.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                ts.mux(packet)
    with open(workspace / "in.ts", "rb") as stdin, open(workspace / "piped.ts", "wb") as stdout:
        done = subprocess.run(
            "streamstyle - -s starry -o -", shell=True, cwd=workspace, stdin=stdin, stdout=stdout,
            stderr=subprocess.PIPE, text=True, timeout=600,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    frames, size, audio = frames_and_audio(workspace / "piped.ts")
    assert (frames, size) == (SHORT_FRAMES, (640, 360)) and audio is not None


def test_optimize_without_vgg16_says_how(workspace: Path, tmp_path: Path) -> None:
    """The README's ``optimize`` on a machine without VGG16: one line naming both ways to give it."""
    done = typed(
        "streamstyle optimize photo.jpg painting.jpg -o out.png", workspace, env=_env(TORCH_HOME=str(tmp_path))
    )
    assert done.returncode == 14, done.stderr
    assert "TORCH_HOME" in done.stderr and "--vgg" in done.stderr and "Traceback" not in done.stderr
    assert not (workspace / "out.png").exists()


def _env(**changes: str) -> dict[str, str]:
    return {**os.environ, **changes}
