"""Training: losses fall, exact resume, the written filter works with --style, NaN stops clearly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from click.testing import CliRunner
from conftest import CPU, ctrl_c_enabled, moving_pattern
from PIL import Image

from streamstyle import Stylize, stylize_file
from streamstyle.cli import main
from streamstyle.device import cpu_has_native_bf16, training_precision
from streamstyle.errors import InvalidOptionError, TrainingError
from streamstyle.filters import Filter
from streamstyle.train.evaluate import filter_loss, motif_loss
from streamstyle.train.gatys import read_image
from streamstyle.train.losses import LossWeights, PerceptualLoss
from streamstyle.train.trainer import TrainConfig, Trainer
from streamstyle.train.vgg import load_loss_network


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny photos, a style image and a random VGG16 file (the real file-loading path)."""
    root = tmp_path_factory.mktemp("training")
    photos = root / "photos"
    photos.mkdir()
    for index in range(6):
        Image.fromarray(moving_pattern(index * 5, 48 + index, 40)).save(photos / f"{index}.png")
    Image.fromarray(moving_pattern(50, 64, 64)[:, ::-1]).save(root / "style.png")
    torch.manual_seed(0)
    features = torchvision.models.vgg16(weights=None).features
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, root / "vgg16.pth")
    return {"root": root, "photos": photos, "style": root / "style.png", "vgg": root / "vgg16.pth"}


def config(setup: dict[str, Path], name: str, **changes: object) -> TrainConfig:
    fields: dict[str, object] = {
        "style_images": (setup["style"],), "data": setup["photos"], "name": name, "crop": 32, "batch_size": 2,
        "iterations": 6, "style_size": 64, "vgg": setup["vgg"], "checkpoint_every": 3, "preview_every": 3,
        "work": setup["root"] / "runs", "output": setup["root"] / "filters", "device": "cpu",
        "arch_options": {"width": 8, "residual_blocks": 1}, "learning_rate": 1e-2,
        "weights": LossWeights(content=1.0, style=1e6, tv=1e-6),
    }  # fmt: skip
    return TrainConfig(**(fields | changes))  # type: ignore[arg-type]


def test_losses_fall_and_the_filter_is_complete(setup: dict[str, Path]) -> None:
    painting = setup["root"] / "large_style.png"
    Image.fromarray(moving_pattern(50, 300, 200)[:, ::-1]).save(painting)
    trainer = Trainer(config(setup, "falls", iterations=30, style_images=(painting,)))
    totals: list[float] = []
    folder = trainer.run(lambda step, terms: totals.append(terms["total"]))
    assert np.mean(totals[-5:]) < 0.7 * np.mean(totals[:5])
    item = Filter.from_folder(folder)
    assert item.recipe["iterations"] == 30 and item.recipe["trainer"] == "streamstyle train"
    assert item.style_image is not None and item.preview is not None
    with Image.open(item.style_image) as kept:  # what evaluate compares with: the painting at 1x and 2x 64 px
        assert max(kept.size) == 2 * 64
    work = setup["root"] / "runs" / "falls"
    assert (work / "loss_curve.png").is_file() and (work / "preview_000030.jpg").is_file()
    assert len((work / "losses.csv").read_text().splitlines()) == 31


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(setup: dict[str, Path]) -> None:
    straight = Trainer(config(setup, "straight"))
    straight.run()
    first = Trainer(config(setup, "resumed", iterations=3))
    first.run()
    second = Trainer(config(setup, "resumed"), resume=True)
    assert second.step == 3
    second.run()
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[key]), key


def test_resume_with_fewer_iterations_writes_the_filter_from_the_checkpoint(setup: dict[str, Path]) -> None:
    Trainer(config(setup, "cut_short", iterations=4)).run()
    folder = Trainer(config(setup, "cut_short", iterations=2), resume=True).run()
    item = Filter.from_folder(folder)
    assert item.recipe["iterations"] == 4 and item.recipe["final_losses"]["total"] > 0


def test_resume_refuses_another_runs_checkpoint(setup: dict[str, Path]) -> None:
    Trainer(config(setup, "other", iterations=3)).run()
    with pytest.raises(TrainingError, match="another run"):
        Trainer(config(setup, "other", crop=48), resume=True)


def test_nan_loss_stops_with_a_message(setup: dict[str, Path]) -> None:
    trainer = Trainer(config(setup, "nan", learning_rate=1e30, iterations=50))
    with pytest.raises(TrainingError, match="the loss became"):
        trainer.run()


def test_cli_trains_a_filter_that_style_uses(setup: dict[str, Path], tmp_path: Path, clip: Path) -> None:
    args = [
        str(setup["style"]), "--data", str(setup["photos"]), "--name", "cli_made", "--width", "8",
        "--crop", "32", "--batch-size", "2", "--iterations", "4", "--style-size", "64", "--vgg", str(setup["vgg"]),
        "--work", str(tmp_path / "runs"), "--output", str(tmp_path / "filters"), "--device", "cpu",
        "--title", "Test pattern", "--licence", "CC0-1.0",
    ]  # fmt: skip
    result = CliRunner().invoke(main, ["train", *args])
    assert result.exit_code == 0, result.output
    out = tmp_path / "styled.mp4"
    stylize_file(clip, out, style=str(tmp_path / "filters" / "cli_made"), compute=CPU)
    assert out.is_file()


def test_evaluate_prints_filter_and_gatys_losses(setup: dict[str, Path]) -> None:
    folder = Trainer(config(setup, "scored", iterations=3)).run()
    args = ["evaluate", str(folder), "--images", str(setup["photos"]), "--size", "48", "--vgg", str(setup["vgg"])]
    result = CliRunner().invoke(main, [*args, "--gatys-images", "1", "--gatys-steps", "2", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["images", "content", "style", "motif"]
    assert lines[1].split()[-4:-3] == ["6"] and lines[2].startswith("gatys")
    filter_style, gatys_style = float(lines[1].split()[-2]), float(lines[2].split()[-2])
    assert filter_style > 0 and gatys_style > 0 and float(lines[1].split()[-1]) > 0
    assert "style loss / Gatys style loss" in lines[-1]


def test_stylebank_two_steps_and_add_style_keeps_other_banks(setup: dict[str, Path]) -> None:
    second = setup["root"] / "second.png"
    Image.fromarray(moving_pattern(20, 64, 64).transpose(1, 0, 2).copy()).save(second)
    bank = config(setup, "bank", architecture="stylebank", arch_options={}, autoencoder_iterations=4, iterations=3)
    trainer = Trainer(bank)
    assert [(p.name, p.steps) for p in trainer.phases] == [("autoencoder", 4), ("bank style", 3)]
    shared_after_step_1: dict[str, torch.Tensor] = {}

    def watch(step: int, terms: dict[str, float]) -> None:
        if step == 4:
            shared_after_step_1.update({k: v.clone() for k, v in trainer.model.state_dict().items()})

    folder = trainer.run(watch)
    final = trainer.model.state_dict()
    assert all(torch.equal(v, final[k]) for k, v in shared_after_step_1.items() if not k.startswith("banks."))
    assert Filter.from_folder(folder).options == {"styles": ["style"]}

    extended = Trainer(config(setup, "bank2", architecture="stylebank", arch_options={}, iterations=3,
                              style_images=(second,), base_filter=folder))  # fmt: skip
    assert [p.name for p in extended.phases] == ["bank second"]
    grown_folder = extended.run()
    grown = Filter.from_folder(grown_folder).load_model().state_dict()
    with Image.open(folder / "style.jpg") as first, Image.open(grown_folder / "style.jpg") as kept:
        assert np.abs(np.asarray(first, float) - np.asarray(kept, float)).mean() < 3, "the first bank's painting"
    assert all(torch.equal(value, grown[key]) for key, value in final.items()), "old banks and shared parts unchanged"
    assert any(key.startswith("banks.second.") for key in grown)
    frames = torch.rand(1, 3, 32, 32) * 255
    chosen = Stylize(str(folder.parent / "bank2"), bank="second").model(frames)
    torch.testing.assert_close(chosen, Filter.from_folder(folder.parent / "bank2").load_model()(frames, "second"))
    with pytest.raises(InvalidOptionError, match="no bank 'third'"):
        Stylize(str(folder.parent / "bank2"), bank="third")


def test_several_styles_need_stylebank(setup: dict[str, Path]) -> None:
    with pytest.raises(InvalidOptionError, match="stylebank"):
        config(setup, "many", style_images=(setup["style"], setup["style"]))


def test_torchrun_with_two_gloo_processes_equals_one_process_with_the_whole_batch(
    setup: dict[str, Path], tmp_path: Path
) -> None:
    common = [
        str(setup["style"]), "--data", str(setup["photos"]), "--width", "8", "--crop", "32", "--iterations", "3",
        "--style-size", "64", "--vgg", str(setup["vgg"]), "--device", "cpu", "--lr", "0.01", "--precision", "fp32",
    ]  # fmt: skip
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    distributed = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
        "--master-port", str(port), "-m", "streamstyle", "train", *common, "--batch-size", "2", "--name", "ddp",
        "--work", str(tmp_path / "runs"), "--output", str(tmp_path / "filters"),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    finished = subprocess.run(distributed, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    places = ["--work", str(tmp_path / "runs"), "--output", str(tmp_path / "filters")]
    single = CliRunner().invoke(main, ["train", *common, "--batch-size", "4", "--name", "single", *places])
    assert single.exit_code == 0, single.output
    half = CliRunner().invoke(main, ["train", *common, "--batch-size", "2", "--name", "half", *places])
    assert half.exit_code == 0, half.output
    frames = torch.rand(2, 3, 40, 40) * 255
    ddp, one, rank0_only = (
        Filter.from_folder(tmp_path / "filters" / name).load_model()(frames) for name in ("ddp", "single", "half")
    )
    # compared by output: conv biases before InstanceNorm get float-noise gradients that Adam blows up to
    # lr-sized steps, differently in each run, but they do not change the output
    assert (ddp - one).abs().mean() < 0.2 * (rank0_only - one).abs().mean()


def test_ctrl_c_saves_a_checkpoint_that_resume_continues(setup: dict[str, Path], tmp_path: Path) -> None:
    args = [
        sys.executable, "-m", "streamstyle", "train", str(setup["style"]), "--data", str(setup["photos"]),
        "--name", "stopped", "--width", "8", "--crop", "32", "--batch-size", "2", "--iterations", "100000",
        "--checkpoint-every", "100000", "--style-size", "64", "--vgg", str(setup["vgg"]), "--device", "cpu",
        "--work", str(tmp_path / "runs"), "--output", str(tmp_path / "filters"),
    ]  # fmt: skip
    log = tmp_path / "runs" / "stopped" / "losses.csv"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_enabled)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 3):
        time.sleep(0.05)
    assert process.poll() is None, "training ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
        pytest.fail(f"no exit 60 s after SIGINT; stderr: {stderr[-1500:]}")
    assert process.returncode == 130 and "continue with --resume" in stderr, stderr[-1500:]
    trainer = Trainer(
        config(setup, "stopped", iterations=100000, work=tmp_path / "runs", arch_options={"width": 8}), resume=True
    )
    assert trainer.step >= 2
    assert len(log.read_text().splitlines()) == trainer.step + 1, "the log ends where the checkpoint does"


def test_temporal_weight_makes_the_network_steadier_under_small_shifts(setup: dict[str, Path]) -> None:
    def steadiness(trainer: Trainer) -> tuple[float, float]:
        """(output change under a 2x3 px shift plus noise, relative to the output's spread; the spread)."""
        frames = torch.stack([trainer.data.item(1000 + i) for i in range(4)])
        noise = torch.randn(frames[..., 2:, 3:].shape, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            trainer.model.eval()
            a, b = trainer.model(frames)[..., 2:, 3:], trainer.model((frames[..., 2:, 3:] + noise).clamp(0, 255))
        spread = float(a.std())
        return float((a - b)[..., 4:-4, 4:-4].abs().mean()) / spread, spread

    results = {}
    for weight in (0.0, 5.0):
        # fp32: the same few steps in bf16 end differently on AMX and AVX512-BF16 CPUs
        trainer = Trainer(config(setup, f"temporal{weight:g}", iterations=30, temporal_weight=weight, precision="fp32"))
        last: dict[str, float] = {}
        trainer.run(lambda step, t, last=last: last.update(t))
        assert ("temporal" in last) == (weight > 0)
        results[weight] = steadiness(trainer)
    assert results[5.0][0] < 0.5 * results[0.0][0]
    assert results[5.0][1] > 0.25 * results[0.0][1], "steadier, not flattened"


def test_fine_tune_starts_from_the_filters_weights(setup: dict[str, Path]) -> None:
    base = Trainer(config(setup, "base", iterations=2)).run()
    tuned = Trainer(config(setup, "tuned", iterations=2, base_filter=base, temporal_weight=1.0))
    start = Filter.from_folder(base).load_model().state_dict()
    for key, value in tuned.model.state_dict().items():
        assert torch.equal(value, start[key]), key
    folder = tuned.run()
    assert Filter.from_folder(folder).recipe["started_from"] == str(base)
    moved = Filter.from_folder(folder).load_model().state_dict()
    assert any(not torch.equal(value, start[key]) for key, value in moved.items()), "it trained on"


def test_fine_tune_needs_the_filters_architecture(setup: dict[str, Path]) -> None:
    base = Trainer(config(setup, "base_arch", iterations=1)).run()
    with pytest.raises(InvalidOptionError, match="--arch johnson_in"):
        Trainer(config(setup, "other_arch", architecture="fusion", arch_options={}, base_filter=base))
    result = CliRunner().invoke(main, [
        "train", str(setup["style"]), "--data", str(setup["photos"]), "--name", "both", "--add-style", str(base),
        "--fine-tune", str(base), "--arch", "stylebank",
    ])  # fmt: skip
    assert result.exit_code != 0 and "not both" in result.output and "Traceback" not in result.output


def test_the_last_steps_train_on_the_finish_crop_and_the_recipe_records_it(setup: dict[str, Path]) -> None:
    trainer = Trainer(config(setup, "finish", iterations=4, finish_crop=48, finish_iterations=2))
    assert [trainer.content_at(step).crop for step in range(4)] == [32, 32, 48, 48]
    folder = trainer.run()
    recipe = Filter.from_folder(folder).recipe
    assert (recipe["finish_crop_size"], recipe["finish_iterations"]) == (48, 2)
    assert recipe["seconds_per_iteration"] > 0
    assert recipe["precision"] in ("float32", "bfloat16")


def test_training_precision_follows_the_cpu_rule() -> None:
    cpu = torch.device("cpu")
    assert training_precision("auto", cpu) == (torch.bfloat16 if cpu_has_native_bf16() else torch.float32)
    assert training_precision("fp32", cpu) == torch.float32
    with pytest.raises(InvalidOptionError, match="fp16"):
        training_precision("fp16", cpu)


def test_style_layer_weights_scale_each_layer_and_are_checked(setup: dict[str, Path]) -> None:
    network = load_loss_network(setup["vgg"])
    style, output = torch.rand(1, 3, 48, 48) * 255, torch.rand(2, 3, 40, 40) * 255
    features = network(output, network.style_layers)
    equal = PerceptualLoss(network, style, LossWeights(style_layers=(1, 1, 1, 1)))
    deep_only = PerceptualLoss(network, style, LossWeights(style_layers=(0, 0, 1, 1)))
    per_layer = {name: float(value) for name, value in equal.layer_distances(features).items()}
    assert float(deep_only.style_distance(features)) == pytest.approx(
        per_layer["relu3_3"] + per_layer["relu4_3"], rel=1e-4
    )
    assert float(equal.style_distance(features)) == pytest.approx(sum(per_layer.values()), rel=1e-4)
    with pytest.raises(InvalidOptionError, match="four numbers"):
        LossWeights(style_layers=(1, 1, 1))
    result = CliRunner().invoke(main, ["train", str(setup["style"]), "--data", str(setup["photos"]), "--name", "x",
                                       "--style-layer-weights", "1,banana,1,1"])  # fmt: skip
    assert result.exit_code == 2 and "comma-separated numbers" in result.output


def test_motif_distance_is_small_for_the_painting_and_large_for_a_flat_image(setup: dict[str, Path]) -> None:
    folder = Trainer(config(setup, "motifs", iterations=1)).run()
    item = Filter.from_folder(folder)
    loss = filter_loss(item, setup["vgg"], torch.device("cpu"))
    motifs = motif_loss(item, loss)
    painting = read_image(item.style_image, 64)
    gray = torch.full_like(painting, 128.0)
    deep = [
        sum(float(m.style_distance(loss.network(x, loss.network.style_layers))) for m in motifs)
        for x in (painting, gray)
    ]
    assert deep[0] < 0.5 * deep[1]
