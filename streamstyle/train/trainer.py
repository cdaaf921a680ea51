"""Perceptual-loss training of a transformation network (Johnson et al.), producing a filter.

A run keeps its working files in ``work`` (checkpoint, loss log and curve, preview grids) and
writes the finished filter folder to ``output/NAME``. Checkpoints hold the model, the
optimiser and the step; the data order is a function of the seed and the step, so a resumed
run continues exactly as an uninterrupted one.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w
import torch
from PIL import Image, ImageDraw
from safetensors.torch import save_file
from torch import distributed as dist
from torch import nn
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel

from streamstyle.checksum import file_sha256
from streamstyle.device import cpu_name, resolve_device, training_precision
from streamstyle.errors import InvalidOptionError, TrainingError
from streamstyle.filters import METADATA_FILE, SCHEMA_VERSION, Filter
from streamstyle.models import StyleBankNet, build_model, count_parameters
from streamstyle.train.data import ContentImages
from streamstyle.train.evaluate import MOTIF_SCALES
from streamstyle.train.gatys import read_image
from streamstyle.train.losses import LossWeights, PerceptualLoss
from streamstyle.train.vgg import load_loss_network

CHECKPOINT = "checkpoint.pt"
LOSS_LOG = "losses.csv"
LOGGED_TERMS = ("total", "content", "style", "tv", "temporal")
SAMPLE_PHOTO = Path(__file__).resolve().parents[2] / "samples" / "sample.jpg"


@dataclass(frozen=True)
class StyleCredit:
    """Who made the style image, for the filter's metadata."""

    title: str = ""
    artist: str = "unknown"
    year: int | None = None
    credit: str = ""
    licence: str = "unknown"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (recorded in the filter's recipe)."""

    style_images: tuple[Path, ...]
    data: Path
    name: str
    architecture: str = "johnson_in"
    arch_options: dict[str, Any] = field(default_factory=dict)
    crop: int = 256
    finish_crop: int = 0
    finish_iterations: int = 0
    batch_size: int = 4
    learning_rate: float = 1e-3
    iterations: int = 40_000
    style_size: int = 512
    weights: LossWeights = field(default_factory=LossWeights)
    vgg: Path | None = None
    seed: int = 0
    checkpoint_every: int = 500
    preview_every: int = 500
    work: Path = Path("runs")
    output: Path = Path("filters")
    device: str = "auto"
    precision: str = "auto"
    content_set: str = ""
    credit: StyleCredit = field(default_factory=StyleCredit)
    autoencoder_iterations: int = 2000
    base_filter: Path | None = None
    temporal_weight: float = 0.0

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise InvalidOptionError(f"bad filter name {self.name!r}")
        if not self.style_images:
            raise InvalidOptionError("give a style image")
        if self.architecture != "stylebank" and len(self.style_images) > 1:
            raise InvalidOptionError("several style images need --arch stylebank")
        for key in ("crop", "batch_size", "iterations", "checkpoint_every", "preview_every"):
            if getattr(self, key) < 1:
                raise InvalidOptionError(f"{key.replace('_', '-')} must be at least 1")
        if self.finish_iterations and self.finish_crop < 1:
            raise InvalidOptionError("--finish-iterations needs --finish-crop")
        if not 0 <= self.finish_iterations <= self.iterations:
            raise InvalidOptionError("finish-iterations must be between 0 and --iterations")


class Trainer:
    """One training run; :meth:`run` trains (resuming from the work folder's checkpoint if asked).

    Raises:
        TrainingError: the loss became NaN/inf, or the checkpoint belongs to another run.
    """

    def __init__(self, config: TrainConfig, *, resume: bool = False) -> None:
        self.config = config
        self.work = config.work / config.name
        self.work.mkdir(parents=True, exist_ok=True)
        self.rank, self.world, self.device = _distributed(resolve_device(config.device))
        torch.manual_seed(config.seed)
        self.data = ContentImages(config.data, config.crop, seed=config.seed)
        self.finish_data = (
            ContentImages(config.data, config.finish_crop, seed=config.seed) if config.finish_iterations else self.data
        )
        self.autocast = training_precision(config.precision, self.device)
        # channels_last: tensor-core friendly on CUDA, and 1.4x as fast with bf16 on CPUs with AMX
        self.memory_format = (
            torch.channels_last
            if self.device.type == "cuda" or self.autocast != torch.float32
            else torch.contiguous_format
        )
        self.model = self._build_model().to(self.device, memory_format=self.memory_format).train()
        network = load_loss_network(config.vgg).to(self.device, memory_format=self.memory_format)
        self.losses = [
            PerceptualLoss(network, read_image(path, config.style_size).to(self.device), config.weights).to(self.device)
            for path in config.style_images
        ]
        self.phases = self._phases()
        self.total_steps = sum(phase.steps for phase in self.phases)
        self.optimizer: torch.optim.Optimizer | None = None
        self._phase: Phase | None = None
        self._forward: Callable[..., torch.Tensor] = self.model
        self.step = 0
        self.seconds = 0.0
        if resume:
            self._load_checkpoint()
        self.preview_content = torch.stack([self.data.item(i) for i in range(min(4, len(self.data)))])

    def _build_model(self) -> nn.Module:
        config = self.config
        if config.base_filter is None:
            options = config.arch_options | ({"styles": bank_names(config.style_images)} if self._bank else {})
            return build_model(config.architecture, **options)
        base = Filter.from_folder(config.base_filter)
        if base.architecture != config.architecture:
            raise InvalidOptionError(
                f"{config.base_filter} is a {base.architecture} filter; give --arch {base.architecture}"
            )
        model = base.load_model().requires_grad_(True)
        if isinstance(model, StyleBankNet):  # new banks; the others stay as they are
            for name in bank_names(config.style_images):
                model.add_bank(name)
        return model

    @property
    def _bank(self) -> bool:
        return self.config.architecture == "stylebank"

    def _phases(self) -> list[Phase]:
        """What is trained, in order: the whole network; or a StyleBank's autoencoder, then each new bank."""
        config, model = self.config, self.model
        if not isinstance(model, StyleBankNet):
            return [Phase("style", config.iterations, list(model.parameters()), self._style_loss)]
        phases = []
        if config.base_filter is None:  # seed 002 step 1: the shared encoder/decoder as an autoencoder
            shared = [*model.encoder.parameters(), *model.decoder.parameters()]

            def reconstruct(net: Callable[..., torch.Tensor], x: torch.Tensor) -> dict[str, torch.Tensor]:
                return {"total": F.mse_loss(net(x, autoencoder=True), x)}

            phases.append(Phase("autoencoder", config.autoencoder_iterations, shared, reconstruct))
        for name, loss in zip(bank_names(config.style_images), self.losses, strict=True):  # step 2: banks
            bank = list(model.banks[name].parameters())
            phases.append(Phase(f"bank {name}", config.iterations, bank, _bank_loss(name, loss)))
        return phases

    def _style_loss(self, network: Callable[..., torch.Tensor], content: torch.Tensor) -> dict[str, torch.Tensor]:
        """Perceptual loss, plus the temporal term of Gupta et al. / Huang et al. when asked for.

        The temporal term stylises a copy of the content shifted by a few pixels, with a little
        noise, and penalises where its output differs from the shifted output of the original
        (away from the borders, where padding differs): frames that barely differ then get
        strokes that barely differ, with no optical flow at run time.
        """
        output = network(content)
        terms = self.losses[0](output, content)
        if self.config.temporal_weight > 0:
            generator = torch.Generator().manual_seed(self.config.seed * 1_000_003 + self.step)
            dy, dx = (int(v) for v in torch.randint(1, 5, (2,), generator=generator))
            noise = torch.randn(content[..., dy:, dx:].shape, generator=generator).to(content) * 2.0
            moved = network((content[..., dy:, dx:] + noise).clamp(0, 255))
            margin = 4
            difference = (output[..., dy:, dx:] - moved)[..., margin:-margin, margin:-margin]
            terms["temporal"] = self.config.temporal_weight * difference.float().pow(2).mean()
            terms["total"] = terms["total"] + terms["temporal"]
        return terms

    def run(self, on_step: Callable[[int, dict[str, float]], None] | None = None) -> Path:
        """Train up to ``iterations`` and write the filter folder; Ctrl-C saves a checkpoint first.

        Returns:
            The filter folder.
        """
        started = time.perf_counter() - self.seconds
        lead = self.rank == 0  # under torchrun only rank 0 writes files
        terms = _last_logged(self.work / LOSS_LOG)  # a resume with no steps left finishes at once
        try:
            while self.step < self.total_steps:
                terms = self.train_step()
                self.step += 1
                self.seconds = time.perf_counter() - started
                if lead:
                    self._log(terms)
                if on_step is not None:
                    on_step(self.step, terms)
                if lead and self.step % self.config.checkpoint_every == 0:
                    self._save_checkpoint()
                if lead and self.step % self.config.preview_every == 0:
                    self._save_previews()
        except KeyboardInterrupt:
            if lead:
                self._save_checkpoint()
            raise
        folder = self.config.output / self.config.name
        if lead:
            self._save_checkpoint()
            folder = self.write_filter(terms)
        if self.world > 1:
            dist.barrier()
        return folder

    def phase_at(self, step: int) -> Phase:
        """The phase that training step ``step`` (0-based) belongs to."""
        for phase in self.phases:
            if step < phase.steps:
                return phase
            step -= phase.steps
        return self.phases[-1]

    def _optimizer_for(self, phase: Phase) -> torch.optim.Optimizer:
        """A fresh Adam per phase: only that phase's parameters get gradients and move."""
        if phase is not self._phase or self.optimizer is None:
            self._phase = phase
            self.model.requires_grad_(False)
            for parameter in phase.parameters:
                parameter.requires_grad_(True)
            self.optimizer = torch.optim.Adam(phase.parameters, lr=self.config.learning_rate)
            if self.world > 1:  # gradients averaged over the ranks
                self._forward = DistributedDataParallel(self.model)
        return self.optimizer

    def content_at(self, step: int) -> ContentImages:
        """The crops of ``step``: the last ``finish_iterations`` steps of each phase use ``finish_crop``."""
        config = self.config
        for phase in self.phases:
            if step < phase.steps:
                return self.finish_data if step >= phase.steps - config.finish_iterations else self.data
            step -= phase.steps
        return self.data

    def train_step(self) -> dict[str, float]:
        """One optimisation step on the batch of the current step; returns the loss terms (not counted or logged)."""
        # rank r of w takes the batches r, r + w, r + 2w, ... of the one data sequence
        data = self.content_at(self.step)
        content = data.batch(self.step * self.world + self.rank, self.config.batch_size).to(self.device)
        content = content.contiguous(memory_format=self.memory_format)
        optimizer = self._optimizer_for(self.phase_at(self.step))
        with torch.autocast(self.device.type, dtype=self.autocast, enabled=self.autocast != torch.float32):
            terms = self.phase_at(self.step).loss(self._forward, content)
        if not torch.isfinite(terms["total"]):
            raise TrainingError(
                f"the loss became {float(terms['total'].detach())} at step {self.step + 1}; the last checkpoint is in "
                f"{self.work}; lower the learning rate or the style weight and resume"
            )
        optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        optimizer.step()
        return {name: float(value.detach()) for name, value in terms.items()}

    def _log(self, terms: dict[str, float]) -> None:
        log = self.work / LOSS_LOG
        new = not log.exists()
        with open(log, "a", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(["step", "seconds", "phase", *LOGGED_TERMS])
            values = [f"{terms[key]:.6g}" if key in terms else "" for key in LOGGED_TERMS]
            writer.writerow([self.step, f"{self.seconds:.2f}", self.phase_at(self.step - 1).name, *values])

    def _save_checkpoint(self) -> None:
        state = {
            "step": self.step,
            "seconds": self.seconds,
            "config": _plain(dataclasses.asdict(self.config)),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else {},
            "phase": self._phase.name if self._phase is not None else "",
        }
        temporary = self.work / (CHECKPOINT + ".part")
        torch.save(state, temporary)
        os.replace(temporary, self.work / CHECKPOINT)

    def _load_checkpoint(self) -> None:
        path = self.work / CHECKPOINT
        if not path.is_file():
            raise TrainingError(f"nothing to resume: no {CHECKPOINT} in {self.work}")
        state = torch.load(path, map_location=self.device, weights_only=True)
        mine = _plain(dataclasses.asdict(self.config))
        fixed = ("architecture", "arch_options", "crop", "batch_size", "seed", "style_images", "data", "base_filter")
        changed = [key for key in fixed if state["config"].get(key) != mine[key]]
        if changed:
            raise TrainingError(f"the checkpoint in {self.work} is of another run ({', '.join(changed)} differ)")
        self.model.load_state_dict(state["model"])
        self.step, self.seconds = int(state["step"]), float(state["seconds"])
        phase = self.phase_at(self.step - 1) if self.step else self.phases[0]
        if state["phase"] == phase.name and self.step < self.total_steps:  # mid-phase: Adam's moments too
            self._optimizer_for(phase).load_state_dict(state["optimizer"])
        _truncate_log(self.work / LOSS_LOG, self.step)

    @torch.no_grad()
    def stylise(self, images: torch.Tensor, bank: str | None = None) -> torch.Tensor:
        """Run the network in eval mode on RGB ``(N, 3, H, W)`` in [0, 255]; returns uint8.

        A StyleBank shows ``bank``, by default its newest (the one in training).
        """
        self.model.eval()
        try:
            frames = images.to(self.device)
            out = (
                self.model(frames, bank or self.model.styles[-1])
                if isinstance(self.model, StyleBankNet)
                else self.model(frames)
            )
            return out.clamp(0, 255).round().byte().cpu()
        finally:
            self.model.train()

    def _save_previews(self) -> None:
        rows = torch.cat([self.preview_content.byte(), self.stylise(self.preview_content)], dim=2)
        grid = torch.cat(list(rows), dim=2).permute(1, 2, 0).numpy()
        Image.fromarray(grid).save(self.work / f"preview_{self.step:06d}.jpg", quality=90)
        _plot_losses(self.work / LOSS_LOG, self.work / "loss_curve.png")

    def write_filter(self, final: dict[str, float]) -> Path:
        """Write ``output/NAME``: weights, filter.toml, style thumbnail and preview."""
        config = self.config
        folder = config.output / config.name
        folder.mkdir(parents=True, exist_ok=True)
        weights = folder / "weights.safetensors"
        state = {key: value.detach().float().contiguous().cpu() for key, value in self.model.state_dict().items()}
        save_file(state, str(weights))
        # what `stylize` gives without options: a StyleBank's first bank, whose painting an extended filter keeps
        default_bank = self.model.styles[0] if isinstance(self.model, StyleBankNet) else None
        base = config.base_filter if self._bank else None
        painting = Filter.from_folder(base).style_image if base is not None else None
        save_painting(painting or config.style_images[0], folder / "style.jpg", config.style_size)
        preview_source = SAMPLE_PHOTO if SAMPLE_PHOTO.is_file() else self.data.files[0]
        preview = self.stylise(read_image(preview_source, 640), default_bank)[0].permute(1, 2, 0).numpy()
        Image.fromarray(preview).save(folder / "preview.jpg", quality=90)
        credit = config.credit
        metadata = {
            "schema": SCHEMA_VERSION,
            "name": config.name,
            "title": credit.title or config.name,
            "description": f"Trained on {config.content_set or config.data.name} in the style of {credit.title}.",
            "style": {
                "artist": credit.artist, **({"year": credit.year} if credit.year else {}), "image": "style.jpg",
                "credit": credit.credit or ", ".join(p.name for p in config.style_images), "licence": credit.licence,
            },
            "model": {
                "architecture": config.architecture,
                "options": config.arch_options | ({"styles": self.model.styles} if self._bank else {}),
                "weights": weights.name, "sha256": file_sha256(weights), "parameters": count_parameters(self.model),
            },
            "processing": {"recommended_size": max(2 * config.crop, 360)},
            "recipe": {
                "trainer": "streamstyle train", "content_set": config.content_set or str(config.data),
                "loss_network": self.losses[0].network.name,
                "content_layers": [self.losses[0].network.content_layer],
                "style_layers": list(self.losses[0].network.style_layers),
                "content_weight": config.weights.content, "style_weight": config.weights.style,
                "tv_weight": config.weights.tv, "content_loss": config.weights.content_loss,
                "temporal_weight": config.temporal_weight,
                **({"started_from": str(config.base_filter)} if config.base_filter else {}),
                "style_layer_weights": list(config.weights.style_layers),
                "style_size": config.style_size, "crop_size": config.crop,
                **({"finish_crop_size": config.finish_crop, "finish_iterations": config.finish_iterations}
                   if config.finish_iterations else {}),
                "batch_size": config.batch_size, "precision": str(self.autocast).removeprefix("torch."),
                "learning_rate": config.learning_rate, "iterations": self.step, "seed": config.seed,
                "phases": {phase.name: phase.steps for phase in self.phases},
                "hardware": _hardware(self.device), "wall_time_s": round(self.seconds),
                "seconds_per_iteration": round(self.seconds / max(self.step, 1), 3),
                "final_losses": {key: round(value, 6) for key, value in final.items()},
            },
        }  # fmt: skip
        (folder / METADATA_FILE).write_text(tomli_w.dumps(metadata), encoding="utf-8")
        Filter.from_folder(folder).load_model()  # the folder must load as written
        return folder


@dataclass(frozen=True)
class Phase:
    """A stretch of training: ``steps`` steps moving ``parameters`` to lower ``loss(network, content)``."""

    name: str
    steps: int
    parameters: list[nn.Parameter]
    loss: Callable[[Callable[..., torch.Tensor], torch.Tensor], dict[str, torch.Tensor]]


def save_painting(painting: Path, destination: Path, style_size: int) -> None:
    """Keep the painting in the filter at the sizes ``streamstyle evaluate`` compares with (:data:`MOTIF_SCALES`
    times the training size, long side), so a filter is scored against what it learnt, not a blurred thumbnail."""
    with Image.open(painting) as image:
        rgb = image.convert("RGB")
    rgb.thumbnail((max(MOTIF_SCALES) * style_size,) * 2, Image.LANCZOS)
    rgb.save(destination, quality=92)


def bank_names(style_images: tuple[Path, ...]) -> list[str]:
    """StyleBank bank names from style image file names (``starry_night.jpg`` -> ``starry_night``)."""
    return [path.stem.replace(".", "_") for path in style_images]


def _bank_loss(name: str, loss: PerceptualLoss) -> Callable[[Callable[..., torch.Tensor], torch.Tensor], dict]:
    return lambda network, content: loss(network(content, name), content)


def _distributed(device: torch.device) -> tuple[int, int, torch.device]:
    """Rank, world size and device; under torchrun, joins the process group (NCCL on CUDA, else gloo)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, device
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return dist.get_rank(), world, device


def _plain(value: Any) -> Any:
    """Paths to strings, recursively, so the config pickles as plain data (weights_only loads)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return str(value) if isinstance(value, Path) else value


def _hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_name()}, {torch.get_num_threads()} threads"


def _last_logged(log: Path) -> dict[str, float]:
    """The loss terms of the last step in the log (empty when there is none)."""
    if not log.is_file():
        return {}
    with open(log, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {key: float(rows[-1][key]) for key in LOGGED_TERMS if rows and rows[-1].get(key)}


def _truncate_log(log: Path, step: int) -> None:
    """Drop loss-log rows past ``step`` (written after the checkpoint a run resumes from)."""
    if not log.exists():
        return
    with open(log, newline="") as handle:
        rows = list(csv.reader(handle))
    kept = [rows[0], *(row for row in rows[1:] if int(row[0]) <= step)]
    with open(log, "w", newline="") as handle:
        csv.writer(handle).writerows(kept)


def _plot_losses(log: Path, path: Path, size: tuple[int, int] = (640, 360)) -> None:
    """A log-scale curve of the total loss over steps, drawn with Pillow."""
    with open(log, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if len(rows) < 2:
        return
    steps = np.array([float(row["step"]) for row in rows])
    totals = np.log10(np.maximum([float(row["total"]) for row in rows], 1e-12))
    width, height = size
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    x = 40 + (steps - steps.min()) / max(np.ptp(steps), 1) * (width - 60)
    y = height - 30 - (totals - totals.min()) / max(np.ptp(totals), 1e-9) * (height - 60)
    draw.line(list(zip(x.tolist(), y.tolist(), strict=True)), fill=(200, 40, 40), width=2)
    draw.text((40, 8), f"log10 total loss: {totals.max():.2f} .. {totals.min():.2f}", fill="black")
    draw.text((40, height - 20), f"step {int(steps.min())} .. {int(steps.max())}", fill="black")
    image.save(path)
