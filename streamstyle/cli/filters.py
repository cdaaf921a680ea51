"""``streamstyle filters`` and ``filters show``: the installed filters (starts without PyTorch)."""

from __future__ import annotations

import click

from streamstyle.filters import Filter, find_filter, list_filters


@click.group(invoke_without_command=True)
@click.pass_context
def filters(ctx: click.Context) -> None:
    """List the installed filters (or `show NAME` for one)."""
    if ctx.invoked_subcommand is None:
        found = list_filters()
        for item in found:
            light = ", light" if item.light else ""
            click.echo(f"{item.name:<14} {item.title} ({item.artist}) [{item.architecture}{light}]")
        if not found:
            click.echo("no filters installed", err=True)


@filters.command("show")
@click.argument("name")
def filters_show(name: str) -> None:
    """Show a filter's metadata and verify its weights."""
    item: Filter = find_filter(name)
    item.verify_checksum()
    lines = [
        ("name", item.name),
        ("title", item.title),
        ("artist", f"{item.artist}, {item.year}"),
        ("credit", item.credit),
        ("licence", item.licence),
        ("architecture", item.architecture),
        ("parameters", f"{item.parameters:,}"),
        ("sha256", f"{item.sha256} (verified)"),
        ("recommended size", f"{item.recommended_size} px short side" if item.recommended_size else "-"),
        ("light", "yes: fast enough for a live camera on a CPU" if item.light else "no"),
        ("folder", str(item.path)),
    ]
    lines += [(f"recipe.{key}", str(value)) for key, value in item.recipe.items()]
    for key, value in lines:
        click.echo(f"{key:<18} {value}")
