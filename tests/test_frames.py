"""FrameBatch validates itself and prints shapes, not data."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch

from streamstyle import FrameBatch


def batch(**changes: object) -> FrameBatch:
    fields: dict[str, object] = {
        "pixels": torch.zeros(2, 3, 4, 5, dtype=torch.uint8),
        "pts": torch.tensor([0, 1]),
        "time_base": Fraction(1, 25),
    }
    return FrameBatch(**(fields | changes))  # type: ignore[arg-type]


def test_valid_batch() -> None:
    frames = batch(masks=torch.ones(2, 1, 4, 5))
    assert len(frames) == 2 and frames.size == (5, 4)
    assert "n=2" in repr(frames) and "5x4" in repr(frames) and "tensor(" not in repr(frames)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"pixels": torch.zeros(2, 3, 4, 5)}, "uint8"),
        ({"pixels": torch.zeros(2, 4, 4, 5, dtype=torch.uint8)}, "(N, 3, H, W)"),
        ({"pts": torch.tensor([0, 1, 2])}, "pts"),
        ({"pts": torch.tensor([0.0, 1.0])}, "int64"),
        ({"time_base": 0.04}, "Fraction"),
        ({"masks": torch.ones(2, 1, 4, 4)}, "masks"),
        ({"masks": torch.ones(2, 1, 4, 5, dtype=torch.uint8)}, "float"),
    ],
)
def test_invalid_batches_are_refused(changes: dict[str, object], words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        batch(**changes)


def test_with_pixels_drops_masks_of_another_size() -> None:
    frames = batch(masks=torch.ones(2, 1, 4, 5))
    assert frames.with_pixels(torch.zeros(2, 3, 4, 5, dtype=torch.uint8)).masks is not None
    assert frames.with_pixels(torch.zeros(2, 3, 8, 10, dtype=torch.uint8)).masks is None
