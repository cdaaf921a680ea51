"""Third-party plugins: filters and stages that installed packages declare as entry points.

Two entry point groups are read, once per process:

- ``streamstyle.filters``: each entry point names an attribute that is a path (``str`` or
  ``os.PathLike``) of a folder holding filter folders, e.g. ``my_pkg:FILTERS`` with
  ``FILTERS = Path(__file__).parent / "filters"``. These folders come after
  ``$STREAMSTYLE_FILTER_PATH`` and before the bundled filters on the search path.
- ``streamstyle.stages``: each entry point names a :class:`~streamstyle.stages.Stage` subclass
  whose ``name`` equals the entry point name; graph strings use it under that name. Built-in
  stages win over plugins of the same name (:func:`streamstyle.stages.stage_registry`).

This module imports nothing of streamstyle, so filter discovery starts without PyTorch.

Entry points are taken in order of their names. One that does not load, or loads to the wrong
kind of object, is skipped with a warning naming it, so the other plugins keep working.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterator
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

FILTERS_GROUP = "streamstyle.filters"
STAGES_GROUP = "streamstyle.stages"
log = logging.getLogger(__name__)


@functools.cache
def plugin_filter_dirs() -> tuple[Path, ...]:
    """The filter folders of the ``streamstyle.filters`` plugins (does not import PyTorch)."""
    folders = []
    for point, value in loaded_entry_points(FILTERS_GROUP):
        if not isinstance(value, str | os.PathLike):
            skip_plugin(point, f"it is a {type(value).__name__}, not the path of a folder")
        elif not Path(value).is_dir():
            skip_plugin(point, f"{value} is not a folder")
        else:
            folders.append(Path(value))
    return tuple(folders)


def loaded_entry_points(group: str) -> Iterator[tuple[EntryPoint, object]]:
    """The group's entry points, by name, with the objects they load; those that fail are skipped."""
    for point in sorted(entry_points(group=group), key=lambda p: (p.name, p.value)):
        try:
            value = point.load()
        except Exception as exc:  # a plugin's import may fail in any way; it must not stop the others
            skip_plugin(point, f"it does not load: {type(exc).__name__}: {exc}")
        else:
            yield point, value


def skip_plugin(point: EntryPoint, reason: str) -> None:
    package = f" of package {point.dist.name}" if point.dist is not None else ""
    log.warning("skipped %s plugin %r%s (%s): %s", point.group, point.name, package, point.value, reason)
