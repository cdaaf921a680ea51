"""``streamstyle batch``: many inputs, here and on a local Ray instance, run as a user types them."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import ctrl_c_enabled, make_video, no_leftovers, probe

from streamstyle import errors
from streamstyle.batch import BatchSettings, Job, plan_jobs
from streamstyle.batch.pieces import Piece, keep_matching_pieces, pieces_folder, split_job
from streamstyle.temporal.flow import correspondence, gray
from streamstyle.temporal.metrics import pair_error

needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="Ray is not installed (pip install 'streamstyle[ray]')"
)
RAY = ["--ray", "--cpus-per-worker", "1"]  # two workers on a 2-core machine


def clips(folder: Path) -> Path:
    """3 small clips with audio (one in a subfolder) and one corrupt file."""
    (folder / "day2").mkdir(parents=True)
    make_video(folder / "a.mp4", frames=12, audio=True)
    make_video(folder / "b.mov", frames=8, audio=True)
    make_video(folder / "day2" / "c.mkv", frames=10, audio=True)
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(3000))
    (folder / "notes.txt").write_text("not media")
    return folder


def batch(*args: str | Path, cwd: Path, **popen: object) -> subprocess.CompletedProcess[str]:
    """The console script's batch command, as typed."""
    command = ["streamstyle", "batch", *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600, **popen)  # type: ignore[call-overload]


EXPECTED = {"a.tiny.mp4": 12, "b.tiny.mp4": 8, "day2/c.tiny.mp4": 10}


def check_outputs(out: Path) -> None:
    """Each good input has its output in the mirrored layout, every frame, with its audio; nothing else."""
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == sorted(EXPECTED), written
    for name, frames in EXPECTED.items():
        info = probe(out / name)
        assert info["frames"] == frames and info["size"] == (64, 48) and info["audio_packets"] > 0, name


@pytest.mark.parametrize("where", ["here", pytest.param("ray", marks=needs_ray)])
def test_a_folder_is_done_but_its_broken_file_then_a_rerun_resumes(
    tiny_filter: Path, tmp_path: Path, where: str
) -> None:
    folder = clips(tmp_path / "clips")
    ray = RAY if where == "ray" else []
    first = batch(folder, "-o", "out", "-s", "tiny", *ray, cwd=tmp_path)
    assert first.returncode == errors.BatchFailedError.exit_code, first.stderr
    assert "1 of 4 inputs failed" in first.stderr and "broken.mp4" in first.stderr
    assert "Traceback" not in first.stderr
    check_outputs(tmp_path / "out")
    table = first.stdout.splitlines()
    assert table[0].split() == ["file", "frames", "fps", "result"] and table[-1] == "3 done, 0 skipped, 1 failed"
    assert any(line.split()[:2] == ["day2/c.tiny.mp4", "10"] and line.endswith("done") for line in table)
    done = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*.mp4")}

    again = batch(folder, "-o", "out", "-s", "tiny", *ray, cwd=tmp_path)
    assert again.stdout.splitlines()[-1] == "0 done, 3 skipped, 1 failed", again.stdout
    assert {p: p.stat().st_mtime_ns for p in done} == done, "finished outputs are not redone"

    redo = batch(folder / "a.mp4", "-o", "out", "-s", "tiny", "--overwrite", *ray, cwd=tmp_path)
    assert redo.returncode == 0 and redo.stdout.splitlines()[-1] == "1 done, 0 skipped, 0 failed", redo.stderr


@needs_ray
def test_a_worker_killed_mid_piece_is_redone_and_leaves_no_half_file(tiny_filter: Path, tmp_path: Path) -> None:
    """90 s at 10 fps on 2 workers: --split auto cuts it in 3 pieces of 30 s; a worker is killed writing one."""
    (tmp_path / "in").mkdir()
    make_video(tmp_path / "in" / "long.mp4", frames=900, size=(320, 240), audio=True)
    make_video(tmp_path / "in" / "short.mp4", frames=10, audio=True)
    out = tmp_path / "out"
    command = ["streamstyle", "batch", "in", "-o", "out", "-s", "tiny", *RAY]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = kill_a_worker_while_writing(out, spare=process.pid)
    stdout, stderr = process.communicate(timeout=600)
    assert killed, "no worker was caught writing"
    assert process.returncode == 0, stderr
    assert stdout.splitlines()[-1] == "2 done, 0 skipped, 0 failed"
    assert any(line.startswith("long.tiny.mp4") and line.endswith("(3 pieces)") for line in stdout.splitlines())
    assert probe(out / "long.tiny.mp4")["frames"] == 900 and no_leftovers(out)


def kill_a_worker_while_writing(out: Path, spare: int) -> bool:
    """SIGKILL the Ray worker that has written part of ``long.tiny.mp4`` or of a piece of it (its ``.part`` file).

    ``spare``: the batch command itself (it joins the pieces; the test kills only workers).
    """
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        parts = list(out.rglob(".*.part")) if out.exists() else []
        if parts and parts[0].stat().st_size > 20_000:
            holders = [pid for pid in processes_holding(parts[0]) if pid != spare]
            for pid in holders:
                os.kill(pid, signal.SIGKILL)
            return bool(holders)
        time.sleep(0.05)
    return False


def processes_holding(path: Path) -> list[int]:
    """The processes with ``path`` open (as ``fuser`` finds them, from /proc)."""
    holders = []
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            if os.readlink(fd) == str(path):
                holders.append(int(fd.parts[2]))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return sorted(set(holders))


def wait_for(folder: Path, pattern: str) -> None:
    deadline = time.monotonic() + 120
    while not (folder.exists() and any(folder.glob(pattern))):
        assert time.monotonic() < deadline, f"no {pattern} in {folder}"
        time.sleep(0.05)


def test_ctrl_c_discards_the_file_in_progress_and_the_rerun_finishes(tiny_filter: Path, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    make_video(tmp_path / "in" / "a.mp4", frames=10, audio=True)
    make_video(tmp_path / "in" / "b.mp4", frames=1500, size=(320, 240), audio=True)
    out = tmp_path / "out"
    process = subprocess.Popen(
        ["streamstyle", "batch", "in", "-o", "out", "-s", "tiny"], cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_enabled,
    )  # fmt: skip
    wait_for(out, ".b.tiny*.part")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and "1 done; run the same command again to resume" in stderr, stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.tiny.mp4"], "no partial b.tiny.mp4 that a rerun would skip"


def test_inputs_keep_their_layout_and_outputs_never_collide(tmp_path: Path) -> None:
    folder = clips(tmp_path / "clips")
    out = tmp_path / "out"
    named = plan_jobs([folder, str(tmp_path / "clips" / "**" / "*.mkv")], out, lambda p: p.stem + ".x.mp4")
    assert sorted(str(j.output.relative_to(out)) for j in named) == [
        "a.x.mp4", "b.x.mp4", "broken.x.mp4", "day2/c.x.mp4",
    ]  # fmt: skip
    inside = plan_jobs([folder], folder / "styled", lambda p: p.name)  # the output folder is no input
    (folder / "styled").mkdir()
    make_video(folder / "styled" / "a.mp4")
    assert [j.input.name for j in plan_jobs([folder], folder / "styled", lambda p: p.name)] == [
        j.input.name for j in inside
    ]
    with pytest.raises(errors.InvalidOptionError, match="would both be written"):
        plan_jobs([folder / "a.mp4", folder / "day2"], out, lambda p: "same.mp4")
    with pytest.raises(errors.InvalidOptionError, match="cannot be an input folder"):
        plan_jobs([folder], folder, lambda p: p.name)
    with pytest.raises(errors.InputNotFoundError, match="no file matches"):
        plan_jobs([str(folder / "*.avi")], out, lambda p: p.name)


def psnr(first: np.ndarray, second: np.ndarray) -> float:
    mse = float(np.mean((first.astype(np.float64) - second.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def seam_errors(source: list[np.ndarray], styled: list[np.ndarray], seams: list[int]) -> list[float]:
    """The warping error of ``styled`` between frames ``s - 1`` and ``s`` of each seam ``s``."""
    return [pair_error(styled[s - 1], styled[s], correspondence(gray(source[s - 1]), gray(source[s]))) for s in seams]


@pytest.mark.parametrize("where", ["here", pytest.param("ray", marks=needs_ray)])
def test_a_clip_split_in_3_pieces_equals_the_unsplit_output(tiny_filter: Path, tmp_path: Path, where: str) -> None:
    """3 s at 30 fps with a key frame every second, cut every second; stability warms up before each seam.

    Lossless encoding (crf 0), so that what is compared is the stylisation, not two encodes:
    every frame within 40 dB PSNR of the unsplit run's (the network's bf16 arithmetic alone
    differs by about 48 dB), and the warping error at each seam within 10% of the unsplit's.
    """
    (tmp_path / "in").mkdir()
    make_video(tmp_path / "in" / "long.mp4", frames=90, size=(96, 64), rate=30, key_every=30)
    common = ["-s", "tiny", "--stability", "0.5", "--crf", "0", *(RAY if where == "ray" else [])]
    split = batch("in", "-o", "split", "--split", "1", *common, cwd=tmp_path)
    assert split.returncode == 0, split.stderr
    assert split.stdout.splitlines()[1].split()[-3:] == ["done", "(3", "pieces)"], split.stdout
    whole = batch("in", "-o", "whole", "--split", "off", *common, cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    ours, theirs = probe(tmp_path / "split" / "long.tiny.mp4"), probe(tmp_path / "whole" / "long.tiny.mp4")
    assert ours["frames"] == theirs["frames"] == 90
    assert ours["times"] == theirs["times"] and ours["duration"] == theirs["duration"]
    assert ours["audio_packets"] == theirs["audio_packets"] > 0 and ours["audio_end"] == theirs["audio_end"]
    assert min(psnr(a, b) for a, b in zip(ours["rgb"], theirs["rgb"], strict=True)) > 40
    source = probe(tmp_path / "in" / "long.mp4")["rgb"]
    for at_seam, unsplit in zip(*(seam_errors(source, o["rgb"], [30, 60]) for o in (ours, theirs)), strict=True):
        assert at_seam <= 1.1 * unsplit + 1e-5
    assert sorted(p.name for p in (tmp_path / "split").iterdir()) == ["long.tiny.mp4"], "pieces are removed"


def test_a_stopped_split_run_resumes_from_its_finished_pieces(tiny_filter: Path, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    make_video(tmp_path / "in" / "long.mp4", frames=450, size=(320, 240), rate=30, key_every=150)
    out = tmp_path / "out"
    process = subprocess.Popen(
        ["streamstyle", "batch", "in", "-o", "out", "-s", "tiny", "--split", "5"], cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_enabled,
    )  # fmt: skip
    wait_for(out / ".long.tiny.mp4.pieces", "0000.mp4")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert not (out / "long.tiny.mp4").exists()
    again = batch("in", "-o", "out", "-s", "tiny", "--split", "5", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    frames = int(again.stdout.splitlines()[1].split()[1])
    assert frames <= 300, "the finished first piece is not redone"
    assert probe(out / "long.tiny.mp4")["frames"] == 450 and sorted(p.name for p in out.iterdir()) == ["long.tiny.mp4"]


def test_pieces_left_for_other_settings_or_cuts_are_not_reused(tmp_path: Path) -> None:
    make_video(tmp_path / "long.mp4", frames=90, size=(64, 48), rate=30, key_every=30)
    (tmp_path / "out").mkdir()
    job = Job(tmp_path / "long.mp4", tmp_path / "out" / "long.tiny.mp4")
    settings = BatchSettings("stylize=tiny")
    pieces = split_job(job, 1, settings.graph)
    assert len(pieces) == 3 and sum(piece.frames for piece in pieces) == 90
    assert pieces[0].label.startswith("piece 1 of 3 (from 0.0 s to ") and pieces[2].label.endswith(" to the end)")
    keep_matching_pieces(pieces, settings)
    pieces[0].path.write_bytes(b"a finished piece")
    keep_matching_pieces(pieces, settings)
    assert pieces[0].path.exists(), "the same run again: kept"
    keep_matching_pieces(pieces, replace(settings, stability=0.5))
    assert not pieces[0].path.exists(), "other settings: discarded"
    pieces[0].path.write_bytes(b"a finished piece")
    keep_matching_pieces(split_job(job, 1.5, settings.graph), settings)
    assert not pieces[0].path.exists(), "other cuts: discarded"
    keep_matching_pieces([Piece(job, 0, 1)], settings)
    assert not pieces_folder(job.output).exists(), "a whole run leaves no pieces folder"
    assert len(split_job(job, 1, "mask=matte.mp4,stylize=tiny")) == 1, "a mask video is read from its start"
