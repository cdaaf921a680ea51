"""Stage: one node of the processing graph, and the typed options it declares."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from streamstyle.errors import InvalidOptionError
from streamstyle.frames import FrameBatch


@dataclass(frozen=True)
class Param:
    """One option of a stage, as the graph string and the command line spell it.

    Attributes:
        name: option key (``strength``); also the stage constructor's keyword.
        parse: turns the option text into a value; raises ``ValueError`` with a reason.
        default: value when the option is absent; ``Param.REQUIRED`` if it must be given.
        help: one line for ``--help`` and error messages.
        primary: the stage's main argument, written without its key (``stylize=starry``);
            only the first param of a stage may be primary.
    """

    REQUIRED: ClassVar[object] = object()

    name: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    primary: bool = False


def parse_bool(text: str) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off``."""
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected a boolean (1/0, true/false), got {text!r}")


def parse_range(low: float, high: float, *, low_open: bool = False) -> Callable[[str], float]:
    """A parser of floats in ``[low, high]`` (``(low, high]`` if ``low_open``)."""

    def parse(text: str) -> float:
        value = float(text)
        if not (low < value <= high if low_open else low <= value <= high):
            bracket = "(" if low_open else "["
            raise ValueError(f"must be in {bracket}{low:g}, {high:g}], got {text}")
        return value

    return parse


MAX_MEMORY_FRAMES = 120
"""The longest memory a stage declares (0.2% of the state is left of a weight of 0.95); a weight of 1
(stabilize at full strength) would otherwise remember for ever."""


def decay_frames(weight: float) -> int:
    """Frames until a state carried with ``weight`` per frame weighs under half a grey level (1/510)."""
    if weight <= 0:
        return 0
    if weight >= 1:
        return MAX_MEMORY_FRAMES
    return min(MAX_MEMORY_FRAMES, math.ceil(math.log(1 / 510) / math.log(weight)))


@dataclass(frozen=True)
class RunShape:
    """What a stage learns before the first batch (:meth:`Stage.start`).

    Attributes:
        width, height: size of the frames the stage receives.
        batch: frames per batch.
        frames: frames the source expects (``None``: unknown).
        live: the source is live (a camera, a stream): frames come at their own pace, for ever.
    """

    width: int
    height: int
    batch: int
    frames: int | None
    live: bool


class Stage(ABC):
    """A processing step on :class:`FrameBatch` es.

    Subclasses set ``name`` (the graph keyword) and ``params`` (positional order in the
    graph string), take those params as keyword arguments and keep them as attributes of
    the same names, so :meth:`options` can format the stage back into graph text.
    """

    name: ClassVar[str]
    params: ClassVar[tuple[Param, ...]] = ()
    produces_masks: ClassVar[bool] = False
    """Whether the stage attaches region masks to the batches it returns."""
    splittable: ClassVar[bool] = True
    """Whether a piece of a split video, which starts mid-way, can run the stage: not one that reads
    a side input frame by frame from its start, such as a mask video."""

    @property
    def needs_masks(self) -> bool:
        """Whether the stage needs masks from an earlier stage (e.g. region-aware stylisation)."""
        return False

    @property
    def memory_frames(self) -> int:
        """How many earlier frames noticeably shape this stage's output (0: each frame on its own).

        A piece of a split video is fed from the sum of its stages' memories before its start, so
        that they have settled by the piece's first frame and the seam does not show.
        """
        return 0

    def close(self) -> None:  # noqa: B027  (an optional hook, not abstract)
        """Release what the stage holds open (files, devices); it is not used afterwards."""

    def start(self, run: RunShape) -> None:  # noqa: B027  (an optional hook)
        """Called once before the first batch with what the run will bring (e.g. to compile for it now)."""

    def reads(self) -> list[Path]:
        """The local files the stage reads (a mask video, weights): an output never writes over them."""
        return []

    @abstractmethod
    def __call__(self, batch: FrameBatch) -> FrameBatch:
        """Process a batch; returns a new batch (inputs are never modified in place)."""

    def to(self, device: torch.device, dtype: torch.dtype) -> Stage:
        """Move models to ``device`` and compute in ``dtype``; returns ``self``."""
        return self

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """Frame size this stage produces for frames of ``width x height``."""
        return width, height

    def options(self) -> dict[str, Any]:
        """Current option values by name, for formatting back into a graph string."""
        return {p.name: getattr(self, p.name) for p in self.params}

    @classmethod
    def check_option(cls, name: str, value: Any) -> Any:
        """Validate ``value`` with the :class:`Param` called ``name``; returns the parsed value.

        Raises:
            InvalidOptionError: the value is out of range or of the wrong kind.
        """
        param = next(p for p in cls.params if p.name == name)
        try:
            return param.parse(str(value))
        except ValueError as exc:
            raise InvalidOptionError(f"{cls.name}: {name}: {exc}") from None
