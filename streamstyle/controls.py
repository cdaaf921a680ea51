"""Live controls: style, strength and region of a running pipeline, changed by keys.

:class:`StyleSwitch` holds every chosen filter loaded and on the device from the start, so
switching styles while running costs nothing: the next batch simply uses another network.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from streamstyle.errors import InvalidOptionError
from streamstyle.filters import find_filter
from streamstyle.frames import FrameBatch
from streamstyle.stages.base import RunShape, Stage
from streamstyle.stages.stylize import REGIONS, Stylize

STRENGTH_STEP = 0.1
KEYS = {
    "n": "next style", "p": "previous style", "r": "region: all / foreground / background",
    "+": "stronger", "-": "weaker", "q": "quit (also Esc)",
}  # fmt: skip
"""What each key of the preview window does."""
_ESCAPE = 27


@dataclass
class LiveControls:
    """What a live run uses now; a key handler changes it from another thread.

    Args:
        styles: filter names, in the order ``n``/``p`` cycle through them (a :class:`StyleSwitch`
            replaces a StyleBank filter's name by its banks).
        strength: 0 = original, 1 = fully stylised.
        region: ``all``, ``foreground`` or ``background``.
        regions: whether a segment stage gives masks, so the region can change.
        on_quit: called when ``q`` or Esc is pressed (or the window closes).
        scale: the processing scale (changed by :meth:`StyleSwitch.set_scale`).
        compiled_scale: a live run's processing scale once a style's network is compiled, if
            other than ``scale`` (each style starts at ``scale`` and moves up when compiled).
        fit_scale: at start, choose the largest scales at which the first style keeps up
            with the input, eager and compiled (:func:`~streamstyle.realtime.fit_scale`).
        compile: ``auto``/``on`` compile each style's network for the run (a live input pays for
            it; they compile one by one in the background, the frames running eagerly until their
            look is compiled, except the shown one when its cache makes that quick), ``off`` runs
            them eagerly (see :class:`~streamstyle.stages.Stylize`).
    """

    styles: Sequence[str]
    strength: float = 1.0
    region: str = "all"
    regions: bool = False
    on_quit: Callable[[], None] | None = None
    scale: float = 1.0
    compiled_scale: float | None = None
    fit_scale: bool = False
    compile: str = "auto"
    index: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def style(self) -> str:
        return self.styles[self.index]

    def handle_key(self, key: int) -> None:
        """Apply one key code from ``cv2.waitKey`` (unknown keys do nothing)."""
        char = chr(key & 0xFF).lower() if key >= 0 else ""
        with self._lock:
            if char == "n":
                self.index = (self.index + 1) % len(self.styles)
            elif char == "p":
                self.index = (self.index - 1) % len(self.styles)
            elif char in ("+", "="):
                self.strength = round(min(1.0, self.strength + STRENGTH_STEP), 2)
            elif char in ("-", "_"):
                self.strength = round(max(0.0, self.strength - STRENGTH_STEP), 2)
            elif char == "r" and self.regions:
                self.region = REGIONS[(REGIONS.index(self.region) + 1) % len(REGIONS)]
        if (char == "q" or key & 0xFF == _ESCAPE) and self.on_quit is not None:
            self.on_quit()

    def overlay_lines(self) -> list[str]:
        """The preview overlay's lines for these settings: style, strength and region, then the keys."""
        index, strength, region = self.snapshot()
        return [
            f"{self.styles[index]}  strength {strength:.1f}  region {region}",
            "  ".join(f"{key}: {what.split(':')[0]}" for key, what in KEYS.items()),
        ]

    def snapshot(self) -> tuple[int, float, str]:
        """(style index, strength, region), read together."""
        with self._lock:
            return self.index, self.strength, self.region


class StyleSwitch(Stage):
    """Stylise with the filter, strength and region that ``controls`` hold at each batch.

    Args:
        controls: the live settings; its ``styles`` are all loaded here, a StyleBank filter's name
            replaced by one look per bank (``stylebank:wave``).
        scale: processing scale of every filter (see :class:`~streamstyle.stages.Stylize`); change
            it with :meth:`set_scale`.
    """

    name = "live-stylize"

    def __init__(self, controls: LiveControls, *, scale: float = 1.0) -> None:
        if not controls.styles:
            raise InvalidOptionError("live controls need at least one style")
        self.controls = controls
        self.stylizers: list[Stylize] = []
        looks: list[str] = []
        for style in controls.styles:  # a StyleBank filter: one look per bank, so n/p step through its banks
            item = find_filter(style)
            banks = list(item.options.get("styles", ())) if item.architecture == "stylebank" else [""]
            self.stylizers += [Stylize(item, bank=bank, compile=controls.compile) for bank in banks]
            looks += [f"{style}:{bank}" if bank else style for bank in banks]
        controls.styles = looks
        self.set_scale(scale)

    def set_scale(self, scale: float, compiled_scale: float | None = None) -> None:
        """Process at ``scale`` from the next batch on (every filter), in a live run at ``compiled_scale`` once
        the filter's network is compiled (see :attr:`~streamstyle.stages.Stylize.compiled_scale`)."""
        for stylizer in self.stylizers:
            stylizer.scale = stylizer.check_option("scale", scale)
            if compiled_scale is not None:
                stylizer.check_option("scale", compiled_scale)
            stylizer.compiled_scale = compiled_scale
        self.controls.scale, self.controls.compiled_scale = scale, compiled_scale

    def to(self, device: torch.device, dtype: torch.dtype) -> StyleSwitch:
        self.stylizers = [stylizer.to(device, dtype) for stylizer in self.stylizers]
        return self

    def start(self, run: RunShape) -> None:
        """Every look compiles for the run (see ``compile``), the shown one first; in a live run the others in the
        background, and the shown one too unless its compile is expected to be quick (a warm cache)."""
        index = self.controls.index
        for order, stylizer in enumerate(self.stylizers[index:] + self.stylizers[:index]):
            if order:
                stylizer.live_compile_wait = 0.0
            stylizer.start(run)

    def close(self) -> None:
        for stylizer in self.stylizers:
            stylizer.close()

    def __call__(self, batch: FrameBatch) -> FrameBatch:
        index, strength, region = self.controls.snapshot()
        stylizer = self.stylizers[index]
        stylizer.strength, stylizer.region = strength, region
        return stylizer(batch)
