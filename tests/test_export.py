"""Exported networks run in ONNX Runtime / TorchScript and match PyTorch, at several sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from streamstyle.cli import main
from streamstyle.filters import find_filter

SIZES = [(1, 40, 56), (2, 37, 53), (1, 90, 160)]


def reference(frames: torch.Tensor) -> np.ndarray:
    with torch.inference_mode():
        return find_filter("tiny").load_model()(frames).numpy()


def test_onnx_export_matches_pytorch(tiny_filter: Path, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is in the dev extra")
    out = tmp_path / "tiny.onnx"
    result = CliRunner().invoke(main, ["export", "tiny", "--format", "onnx", "-o", str(out)])
    assert result.exit_code == 0, result.output
    session = ort.InferenceSession(str(out))
    for batch, height, width in SIZES:
        frames = torch.rand(batch, 3, height, width) * 255
        (output,) = session.run(None, {"frames": frames.numpy()})
        assert output.shape == (batch, 3, height, width)
        np.testing.assert_allclose(output, reference(frames), atol=1e-2)


def test_torchscript_export_matches_pytorch(tiny_filter: Path, tmp_path: Path) -> None:
    out = tmp_path / "tiny.pt"
    result = CliRunner().invoke(main, ["export", "tiny", "--format", "torchscript", "-o", str(out)])
    assert result.exit_code == 0, result.output
    scripted = torch.jit.load(str(out))
    for batch, height, width in SIZES:
        frames = torch.rand(batch, 3, height, width) * 255
        with torch.inference_mode():
            np.testing.assert_allclose(scripted(frames).numpy(), reference(frames), atol=1e-3)


def test_export_refuses_to_overwrite(tiny_filter: Path, tmp_path: Path) -> None:
    out = tmp_path / "taken.pt"
    out.write_bytes(b"keep")
    result = CliRunner().invoke(main, ["export", "tiny", "--format", "torchscript", "-o", str(out)])
    assert result.exit_code == 7 and out.read_bytes() == b"keep"
