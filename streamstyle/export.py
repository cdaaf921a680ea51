"""Export a filter's network to ONNX or TorchScript, with dynamic batch, height and width."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal, get_args

import torch
from torch import nn

from streamstyle.errors import EncoderError, InvalidOptionError
from streamstyle.filters import Filter, find_filter
from streamstyle.io.output_path import check_output_path, output_file
from streamstyle.models.stylebank import SingleStyleNet, StyleBankNet

ExportFormat = Literal["onnx", "torchscript"]
EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}
MIN_SIDE = 16
"""Exported graphs take frames of at least this many pixels per side (reflection padding inside)."""


def exportable_network(item: Filter, *, bank: str | None = None) -> nn.Module:
    """The filter's network as a plain ``frames -> frames`` module (one bank of a StyleBank)."""
    model = item.load_model()
    if isinstance(model, StyleBankNet):
        return SingleStyleNet(model, bank or model.styles[0]).eval()
    return model


def export_filter(
    style: str | Filter,
    output: str | Path | None = None,
    *,
    format: ExportFormat = "onnx",
    bank: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the filter's network as one self-contained ONNX file (opset of the dynamo exporter) or TorchScript.

    The model takes RGB float ``(N, 3, H, W)`` in [0, 255] and returns the same shape
    (unclamped), for any N and any H, W >= 16.

    Args:
        style: filter name, folder or record.
        output: file to write; default ``<name>.onnx`` / ``<name>.pt`` in the current folder.
        format: ``onnx`` or ``torchscript``.
        bank: for a StyleBank filter, which style bank to export (default the first).
        overwrite: replace an existing file.

    Raises:
        InvalidOptionError: an unknown format; EncoderError: the ONNX exporter is not installed
        or fails.
    """
    if format not in EXPORT_FORMATS:
        raise InvalidOptionError(f"unknown export format {format!r}; use one of: {', '.join(EXPORT_FORMATS)}")
    item = style if isinstance(style, Filter) else find_filter(style)
    target = Path(output) if output is not None else Path(item.name + SUFFIXES[format])
    check_output_path(target, reads=[item.weights], overwrite=overwrite)
    network = exportable_network(item, bank=bank)
    file = output_file(target)
    try:
        if format == "onnx":
            _export_onnx(network, file.path)
        else:
            _export_torchscript(network, file.path)
    except BaseException:
        file.discard()
        raise
    file.publish(overwrite=overwrite)
    return target


def _export_onnx(network: nn.Module, path: Path) -> None:
    try:
        import onnxscript  # noqa: F401  (the dynamo exporter needs it)
    except ImportError:
        raise EncoderError("ONNX export needs onnx and onnxscript: pip install 'streamstyle[export]'") from None
    from torch.export import Dim

    example = torch.rand(1, 3, 2 * MIN_SIDE + 5, 3 * MIN_SIDE + 1) * 255  # not a multiple of the stride
    shapes = {"x": {0: Dim("batch", max=1024), 2: Dim("height", min=MIN_SIDE), 3: Dim("width", min=MIN_SIDE)}}
    try:  # external_data=False: one self-contained file, the weights inside it, not beside it
        torch.onnx.export(
            network, (example,), str(path), dynamo=True, dynamic_shapes=shapes,
            input_names=["frames"], output_names=["stylised"], verbose=False, external_data=False,
        )  # fmt: skip
    except Exception as exc:  # the exporter raises many kinds; report them as one
        raise EncoderError(f"ONNX export failed: {str(exc).splitlines()[0]}") from None


def _export_torchscript(network: nn.Module, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated but still the format asked for
        torch.jit.save(torch.jit.script(network), str(path))
