"""Hostile outputs: no input is ever written over, no half-written file is ever left, no traceback.

Full and read-only file systems are real tmpfs mounts (as root; skipped otherwise), a folder
that cannot be written is an immutable folder (root) or one without write permission, signals
and closed pipes are real, sent to the console script.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    assert_clean_failure,
    ctrl_c_enabled,
    make_video,
    moving_pattern,
    no_leftovers,
    probe,
    run,
)

from streamstyle import errors
from streamstyle.files import OutputOptions, stylize_file
from streamstyle.io.media import write_image
from streamstyle.io.output_path import PartFile


def write_sequence(folder: Path, count: int = 3, size: tuple[int, int] = (32, 24)) -> list[Path]:
    folder.mkdir(exist_ok=True)
    paths = [folder / f"{index:05d}.png" for index in range(1, count + 1)]
    for index, path in enumerate(paths):
        write_image(path, moving_pattern(index, *size))
    return paths


@contextlib.contextmanager
def mounted_tmpfs(folder: Path, *options: str) -> Iterator[Path]:
    """A real tmpfs at ``folder`` (e.g. ``size=64k`` for a full disk, ``ro`` for a read-only one)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@contextlib.contextmanager
def unwritable(folder: Path) -> Iterator[Path]:
    """A folder no file can be created in: immutable for root (``chattr +i``), mode 555 for others."""
    folder.mkdir()
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)]).returncode != 0:
            pytest.skip("root ignores permissions, and this file system has no immutable folders")
    else:
        folder.chmod(0o555)
    try:
        yield folder
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(folder)], check=False)
        folder.chmod(0o755)


def start(args: list[str], tiny_filter: Path, **popen: object) -> subprocess.Popen[str]:
    env = {**os.environ, "STREAMSTYLE_FILTER_PATH": str(tiny_filter.parent)}
    command = [sys.executable, "-m", "streamstyle", *args]
    return subprocess.Popen(command, env=env, text=True, preexec_fn=ctrl_c_enabled, **popen)  # type: ignore[call-overload]


def wait_for_part(folder: Path) -> Path:
    """The ``.part`` file of a run in ``folder``, once it holds some frames."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        parts = [p for p in folder.iterdir() if p.name.endswith(".part") and p.stat().st_size > 2_000]
        if parts:
            return parts[0]
        time.sleep(0.02)
    raise AssertionError("no run wrote a .part file within 60 s")


# --- never write over what the run reads -------------------------------------------------------


@pytest.mark.parametrize("input_form", ["%05d.png", "*.png"])
def test_an_image_sequence_cannot_overwrite_itself(tiny_filter: Path, tmp_path: Path, input_form: str) -> None:
    frames = write_sequence(tmp_path / "in")
    before = [path.read_bytes() for path in frames]
    result = run(tmp_path / "in" / input_form, "-s", "tiny", "-o", tmp_path / "in" / "%05d.png", "-y")
    assert_clean_failure(result, errors.OutputConflictError.exit_code, "00001.png")
    assert [path.read_bytes() for path in frames] == before
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == [p.name for p in frames]


def test_a_sequence_output_refuses_existing_frames_without_y(tiny_filter: Path, clip: Path, tmp_path: Path) -> None:
    taken = write_sequence(tmp_path / "out", count=1)[0].with_name("00007.png")
    taken.write_bytes(b"an older frame")
    result = run(clip, "-s", "tiny", "-o", tmp_path / "out" / "%05d.png")
    assert_clean_failure(result, errors.OutputExistsError.exit_code, "-y")
    assert taken.read_bytes() == b"an older frame"


def test_the_mask_cannot_be_overwritten(tiny_filter: Path, clip: Path, tmp_path: Path) -> None:
    mask = make_video(tmp_path / "mask.mp4", audio=False)
    before = mask.read_bytes()
    result = run(clip, "-s", "tiny", "--mask", mask, "-o", mask, "-y")
    assert_clean_failure(result, errors.OutputConflictError.exit_code, "mask.mp4")
    assert mask.read_bytes() == before


# --- devices, FIFOs, and files that appear meanwhile -------------------------------------------


def test_a_device_is_written_into_not_replaced(tiny_filter: Path, clip: Path) -> None:
    result = run(clip, "-s", "tiny", "-f", "mp4", "-o", "/dev/null")
    assert result.exit_code == 0, result.output
    assert Path("/dev/null").is_char_device()


def test_a_fifo_is_written_into_and_stays_a_fifo(tiny_filter: Path, clip: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    received = bytearray()
    reader = threading.Thread(target=lambda: received.extend(fifo.read_bytes()), daemon=True)
    reader.start()
    result = run(clip, "-s", "tiny", "-o", fifo)
    reader.join(timeout=60)
    assert result.exit_code == 0, result.output
    assert fifo.is_fifo()
    (tmp_path / "received.mp4").write_bytes(received)
    assert probe(tmp_path / "received.mp4")["frames"] == 10  # fragmented MP4: it needs no seeking back


def test_a_file_that_appears_during_the_run_is_left_alone(tiny_filter: Path, clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    with pytest.raises(errors.OutputExistsError, match=r"out\.1\.mp4"):
        stylize_file(clip, out, style="tiny", on_start=lambda *_: out.write_bytes(b"written meanwhile"))
    assert out.read_bytes() == b"written meanwhile"
    assert probe(tmp_path / "out.1.mp4")["frames"] == 10, "the result is kept under a free name"
    assert no_leftovers(tmp_path)


def test_overwrite_replaces_a_file_that_appears_during_the_run(tiny_filter: Path, clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    stylize_file(clip, out, style="tiny", sink=OutputOptions(overwrite=True), on_start=lambda *_: out.write_bytes(b"x"))
    assert probe(out)["frames"] == 10 and no_leftovers(tmp_path)


def test_a_killed_runs_part_file_is_swept_but_a_running_one_is_not(
    tiny_filter: Path, clip: Path, tmp_path: Path
) -> None:
    long_clip = make_video(tmp_path / "long.mp4", frames=1500, size=(320, 240), audio=False)
    out = tmp_path / "out.mp4"
    killed = start([str(long_clip), "-s", "tiny", "-o", str(out)], tiny_filter, stderr=subprocess.DEVNULL)
    stale = wait_for_part(tmp_path)
    killed.kill()  # SIGKILL: no cleanup runs
    killed.wait(timeout=30)
    assert stale.exists(), "SIGKILL leaves the temporary file"
    running = PartFile(out)  # another run writing the same output holds its lock
    try:
        result = run(clip, "-s", "tiny", "-o", out)
        assert result.exit_code == 0, result.output
        assert not stale.exists() and running.path.exists()
    finally:
        running.discard()
    assert probe(out)["frames"] == 10 and no_leftovers(tmp_path)


def test_a_sequence_sweeps_its_stale_part_files(tiny_filter: Path, clip: Path, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    stale = tmp_path / "out" / ".00003.png.k1ll3d00.part"
    stale.write_bytes(b"left by SIGKILL")
    result = run(clip, "-s", "tiny", "-o", tmp_path / "out" / "%05d.png")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out").glob("*.png"))) == 10 and not stale.exists()


# --- file systems that refuse ------------------------------------------------------------------


def still_image(path: Path, size: int = 256) -> Path:
    write_image(path, np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8))  # noise: large
    return path


@pytest.mark.parametrize("output", ["out.mp4", "out.png", "%05d.png"])
def test_a_full_disk_is_one_line_and_leaves_nothing(tiny_filter: Path, tmp_path: Path, output: str) -> None:
    source = (
        still_image(tmp_path / "in.png")
        if output == "out.png"
        else make_video(tmp_path / "in.mp4", frames=60, size=(256, 192))
    )
    with mounted_tmpfs(tmp_path / "full", "size=48k") as full:
        result = run(source, "-s", "tiny", "-o", full / output)
        assert_clean_failure(result, errors.OutputWriteError.exit_code, "disk is full")
        assert no_leftovers(full)
        assert not (full / output).exists()


@pytest.mark.parametrize("output", ["out.mp4", "out.png", "%05d.png"])
def test_a_read_only_file_system_is_one_line(tiny_filter: Path, tmp_path: Path, output: str) -> None:
    source = still_image(tmp_path / "in.png", 32) if output == "out.png" else make_video(tmp_path / "in.mp4")
    with mounted_tmpfs(tmp_path / "ro", "ro", "size=1m") as read_only:
        result = run(source, "-s", "tiny", "-o", read_only / output)
        assert_clean_failure(result, errors.OutputWriteError.exit_code, "read-only")


@pytest.mark.parametrize("output", ["out.mp4", "out.png", "%05d.png"])
def test_a_folder_without_permission_is_one_line(tiny_filter: Path, tmp_path: Path, output: str) -> None:
    source = still_image(tmp_path / "in.png", 32) if output == "out.png" else make_video(tmp_path / "in.mp4")
    with unwritable(tmp_path / "locked") as locked:
        result = run(source, "-s", "tiny", "-o", locked / output)
        assert_clean_failure(result, errors.OutputWriteError.exit_code, "permission denied")
        assert not any(locked.iterdir())


# --- signals and pipes, sent to the console script ---------------------------------------------


@contextlib.contextmanager
def socket_port() -> Iterator[int]:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    yield port


@pytest.mark.parametrize("gaps", [[0.3], [1.0], [0.01] * 30], ids=["0.3s", "1s", "30-in-0.3s"])
def test_a_second_ctrl_c_does_not_discard_the_output(tiny_filter: Path, tmp_path: Path, gaps: list[float]) -> None:
    clip = make_video(tmp_path / "long.mp4", frames=1500, size=(320, 240), audio=True)
    out = tmp_path / "partial.mp4"
    process = start([str(clip), "-s", "tiny", "-o", str(out), "--device", "cpu"], tiny_filter, stderr=subprocess.PIPE)
    wait_for_part(tmp_path)
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    for gap in gaps:  # the burst: some land while the output is finished, some after
        time.sleep(gap)
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted: the output holds" in stderr and "Traceback" not in stderr
    assert 0 < probe(out)["frames"] < 1500 and no_leftovers(tmp_path)


def test_stdout_closed_by_the_reader_ends_quietly(tiny_filter: Path, tmp_path: Path) -> None:
    clip = make_video(tmp_path / "long.mp4", frames=300, size=(320, 240), audio=True)
    process = start(
        [str(clip), "-s", "tiny", "-o", "-", "-q"], tiny_filter, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    head = os.read(process.stdout.fileno(), 10_000)  # as `| head -c 10000` does, then close
    process.stdout.close()
    stderr = process.stderr.read()
    process.wait(timeout=120)
    assert head and process.returncode == errors.PipeClosedError.exit_code, stderr
    assert stderr == "", "a closed pipe is no error to report"


@pytest.mark.parametrize("delay", [0.2, 0.5, 1.5])  # 0.5 s: in PyTorch's start-up, which swallowed it
def test_ctrl_c_while_the_command_starts(tiny_filter: Path, tmp_path: Path, delay: float) -> None:
    clip = make_video(tmp_path / "in.mp4", frames=600)  # longer than the start-up and the signal's delay
    process = start([str(clip), "-s", "tiny", "-o", str(tmp_path / "out.mp4")], tiny_filter, stderr=subprocess.PIPE)
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, f"the Ctrl-C was lost: {stderr}"
    assert "Traceback" not in stderr and stderr.strip().splitlines()[-1].startswith("interrupted")
    assert no_leftovers(tmp_path)


def test_sigterm_while_a_network_input_opens_stops_at_once(tiny_filter: Path, tmp_path: Path) -> None:
    with socket_port() as port:
        url = f"tcp://127.0.0.1:{port}?listen=1"
        process = start([url, "-s", "tiny", "-o", str(tmp_path / "out.mp4"), "--timeout", "60"], tiny_filter,
                        stderr=subprocess.PIPE)  # fmt: skip
        time.sleep(8)  # past loading torch: the input is being opened, waiting for a sender
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert time.monotonic() - signalled < 10, "the wait for the input ends with the signal, not with the timeout"
    assert "Traceback" not in stderr and "interrupted" in stderr
    assert not (tmp_path / "out.mp4").exists()


# --- the part file itself ----------------------------------------------------------------------


def test_a_part_file_is_locked_while_it_is_written(tmp_path: Path) -> None:
    part = PartFile(tmp_path / "out.mp4")
    with open(part.path, "rb") as other, pytest.raises(BlockingIOError):
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    part.path.write_bytes(b"done")
    part.publish(overwrite=False)
    assert (tmp_path / "out.mp4").read_bytes() == b"done" and no_leftovers(tmp_path)


def test_onnx_export_is_one_self_contained_file(tiny_filter: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxscript", reason="ONNX export needs the export extra")
    onnx = pytest.importorskip("onnx", reason="ONNX export needs the export extra")
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    result = run("export", "tiny", "--format", "onnx", "-o", folder / "tiny.onnx")
    assert result.exit_code == 0, result.output
    assert [p.name for p in folder.iterdir()] == ["tiny.onnx"], "no external data file beside it"
    moved = tmp_path / "elsewhere.onnx"
    (folder / "tiny.onnx").rename(moved)
    model = onnx.load(str(moved))  # loads alone, weights included
    assert sum(int(np.prod(t.dims)) for t in model.graph.initializer) > 1000


def test_stability_and_the_warping_error_work_on_frames_under_12_pixels(tiny_filter: Path, tmp_path: Path) -> None:
    clip = make_video(tmp_path / "tiny.mp4", frames=6, size=(8, 6), audio=False)
    out = tmp_path / "out.mp4"
    result = run(clip, "-s", "tiny", "--stability", "0.5", "-o", out)
    assert result.exit_code == 0, result.output
    assert probe(out)["frames"] == 6 and probe(out)["size"] == (8, 6)
    measured = run("evaluate-video", clip, out)
    assert measured.exit_code == 0, measured.output
