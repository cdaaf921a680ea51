"""``streamstyle export``: a filter's network as ONNX or TorchScript."""

from __future__ import annotations

from pathlib import Path

import click

from streamstyle.cli.params import StyleParam
from streamstyle.export import EXPORT_FORMATS, export_filter


@click.command("export")
@click.argument("style", type=StyleParam())
@click.option("--format", "format_", type=click.Choice(EXPORT_FORMATS), default="onnx", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Default NAME.onnx / NAME.pt.")
@click.option("--bank", help="For a StyleBank filter: the style bank to export (default the first).")
@click.option("-y", "--overwrite", is_flag=True, help="Replace an existing output file.")
def export(style: str, format_: str, output: Path | None, bank: str | None, overwrite: bool) -> None:
    """Export the network of filter STYLE (dynamic batch, height and width >= 16).

    The model maps RGB float frames N x 3 x H x W in [0, 255] to the same shape (clamp the output).
    """
    path = export_filter(style, output, format=format_, bank=bank, overwrite=overwrite)  # type: ignore[arg-type]
    click.echo(f"wrote {path}")
