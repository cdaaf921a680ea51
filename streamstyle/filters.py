"""Filters: trained styles that ship as folders of weights and metadata.

A filter folder holds ``filter.toml`` (schema below), the network weights (safetensors) whose
sha256 is recorded in the metadata and checked on load, the style image and a preview.
Filters are found by name on the search path: the folders of ``$STREAMSTYLE_FILTER_PATH``
(``os.pathsep``-separated), then those of installed plugin packages (the ``streamstyle.filters``
entry points, see :mod:`streamstyle.plugins`), then the filters bundled with streamstyle.
"""

from __future__ import annotations

import functools
import logging
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamstyle.checksum import file_sha256
from streamstyle.errors import FilterError, InvalidOptionError, UnknownStyleError
from streamstyle.plugins import plugin_filter_dirs

if TYPE_CHECKING:
    from torch import nn

log = logging.getLogger(__name__)

METADATA_FILE = "filter.toml"
SCHEMA_VERSION = 1
_PACKAGE = Path(__file__).resolve().parent
BUNDLED_FILTER_DIRS = (_PACKAGE / "filters", _PACKAGE.parent / "filters")
"""Where bundled filters live: inside an installed wheel, or at the top of a source checkout."""


FILTER_PATH_VARIABLE = "STREAMSTYLE_FILTER_PATH"
"""Environment variable: folders searched for filters before the installed ones."""


@dataclass(frozen=True)
class Filter:
    """One trained style, as described by its ``filter.toml``.

    Attributes:
        name: the short name ``--style`` takes (the folder name).
        path: the filter folder.
        architecture, options: the network builder name and its keyword options.
        sha256: hex digest of the weights file, checked before the weights are used.
        parameters: number of network parameters, checked against the built network.
        recommended_size: short side in pixels at which the strokes look as trained.
        light: fast enough for a live camera on a CPU (``[processing] light``: measured at
            30 fps or more, network only, at 640x360 in bf16); the camera takes these by default there.
        recipe: how it was trained (free-form record of the trainer).
    """

    name: str
    path: Path
    title: str
    description: str
    artist: str
    year: int | None
    credit: str
    licence: str
    architecture: str
    weights: Path
    sha256: str
    parameters: int
    options: dict[str, Any] = field(default_factory=dict)
    style_image: Path | None = None
    preview: Path | None = None
    recommended_size: int | None = None
    light: bool = False
    recipe: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_folder(cls, folder: str | Path) -> Filter:
        """Read and validate ``folder/filter.toml``.

        Raises:
            FilterError: missing or malformed metadata.
        """
        folder = Path(folder)
        meta_path = folder / METADATA_FILE
        try:
            meta = tomllib.loads(meta_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError):
            raise FilterError(f"{folder} is not a filter folder: no {METADATA_FILE}") from None
        except OSError as exc:
            raise FilterError(f"cannot read {meta_path}: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise FilterError(f"{meta_path}: invalid TOML: {exc}") from None
        try:
            if meta["schema"] != SCHEMA_VERSION:
                raise FilterError(f"{meta_path}: schema {meta['schema']} is not {SCHEMA_VERSION}")
            style, model = meta["style"], meta["model"]
            processing = meta.get("processing", {})
            return cls(
                name=str(meta["name"]),
                path=folder,
                title=str(meta["title"]),
                description=str(meta.get("description", "")),
                artist=str(style["artist"]),
                year=style.get("year"),
                credit=str(style["credit"]),
                licence=str(style["licence"]),
                architecture=str(model["architecture"]),
                options=dict(model.get("options", {})),
                weights=_weights_path(folder, str(model["weights"]), meta_path),
                sha256=str(model["sha256"]).lower(),
                parameters=int(model["parameters"]),
                style_image=_optional_file(folder, style.get("image")),
                preview=_optional_file(folder, meta.get("preview", "preview.jpg")),
                recommended_size=processing.get("recommended_size"),
                light=bool(processing.get("light", False)),
                recipe=dict(meta.get("recipe", {})),
            )
        except KeyError as exc:
            raise FilterError(f"{meta_path}: missing field {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise FilterError(f"{meta_path}: bad value: {exc}") from None

    def verify_file(self) -> None:
        """Raise :class:`FilterError` unless the weights are a regular file."""
        if not self.weights.exists():
            raise FilterError(f"filter {self.name!r}: weights file missing: {self.weights}")
        if not self.weights.is_file():  # a folder, a device such as /dev/zero (read forever), a FIFO
            raise FilterError(f"filter {self.name!r}: the weights {self.weights} are not a regular file")

    def verify_checksum(self) -> None:
        """Raise :class:`FilterError` unless the weights file matches the recorded sha256."""
        self.verify_file()
        digest = file_sha256(self.weights)
        if digest != self.sha256:
            raise _checksum_mismatch(self.name, self.weights, self.sha256, digest)

    def load_model(self) -> nn.Module:
        """Build the network and load its weights, in eval mode with gradients off.

        The weights are read and checked once per process while their file is unchanged (a
        worker of ``streamstyle batch`` loads each filter once).

        Raises:
            FilterError: checksum mismatch, unreadable weights, or weights that do not fit.
        """
        from streamstyle.models import build_model, count_parameters  # PyTorch: not needed to list filters

        try:
            model = build_model(self.architecture, **self.options)
        except InvalidOptionError as exc:
            raise FilterError(f"filter {self.name!r}: {exc}") from None
        self.verify_file()
        stat = self.weights.stat()
        state = _checked_weights(self.name, self.weights.resolve(), (stat.st_size, stat.st_mtime_ns), self.sha256)
        misfit = _misfit(model.state_dict(), state)
        if misfit:
            raise FilterError(f"filter {self.name!r}: the weights do not fit {self.architecture}: {misfit}")
        model.load_state_dict(state)
        if count_parameters(model) != self.parameters:
            raise FilterError(
                f"filter {self.name!r}: {count_parameters(model)} parameters, metadata says {self.parameters}"
            )
        return model.eval().requires_grad_(False)


@functools.lru_cache(maxsize=8)
def _checked_weights(name: str, path: Path, stamp: tuple[int, int], sha256: str) -> dict[str, Any]:
    """The tensors of filter ``name``'s weights at ``path``, checked against ``sha256``.

    Cached by path and ``stamp`` (size and modification time), so a file that changes is read
    again; errors are not cached.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    digest = file_sha256(path)
    if digest != sha256:
        raise _checksum_mismatch(name, path, sha256, digest)
    try:
        return load_file(path)
    except (SafetensorError, OSError) as exc:
        raise FilterError(f"filter {name!r}: weights do not load: {str(exc).splitlines()[0]}") from None


def _checksum_mismatch(name: str, path: Path, expected: str, got: str) -> FilterError:
    return FilterError(
        f"filter {name!r}: weights checksum mismatch ({path.name} is corrupt or was replaced): "
        f"expected sha256 {expected[:12]}..., got {got[:12]}..."
    )


def _weights_path(folder: Path, name: str, meta_path: Path) -> Path:
    """The weights file named in the metadata, which must lie inside the filter folder."""
    path = folder / name
    if not path.resolve().is_relative_to(folder.resolve()):
        raise FilterError(f"{meta_path}: weights {name!r} lie outside the filter folder")
    return path


def _misfit(expected: dict[str, Any], given: dict[str, Any]) -> str:
    """The first difference between a network's state dict and the weights for it, in words ('' if none)."""
    for key, value in expected.items():
        if key not in given:
            return f"no tensor {key} {tuple(value.shape)} in the file ({len(given)} tensors)"
        if tuple(given[key].shape) != tuple(value.shape):
            return f"{key} is {tuple(given[key].shape)} in the file, the network needs {tuple(value.shape)}"
    extra = [key for key in given if key not in expected]
    return f"the file has {len(extra)} tensor(s) the network lacks, such as {extra[0]}" if extra else ""


def _optional_file(folder: Path, name: object) -> Path | None:
    return folder / str(name) if name and (folder / str(name)).is_file() else None


def filter_search_path() -> list[Path]:
    """Folders searched for filters, first match wins: ``$STREAMSTYLE_FILTER_PATH``, plugins, bundled."""
    extra = [Path(p) for p in os.environ.get(FILTER_PATH_VARIABLE, "").split(os.pathsep) if p]
    return [*extra, *plugin_filter_dirs(), *(d for d in BUNDLED_FILTER_DIRS if d.is_dir())]


def list_filters() -> list[Filter]:
    """Every filter on the search path (the first of each name), sorted by name.

    A folder with broken metadata is left out with a warning (``find_filter`` of its name raises
    the :class:`FilterError`), so one broken filter does not hide the others.
    """
    found: dict[str, Filter] = {}
    for directory in filter_search_path():
        for meta in sorted(directory.glob(f"*/{METADATA_FILE}")):
            if meta.parent.name in found:
                continue
            try:
                found[meta.parent.name] = Filter.from_folder(meta.parent)
            except FilterError as exc:
                log.warning("left out a broken filter: %s", exc)
    return [found[name] for name in sorted(found)]


def find_filter(style: str | Path) -> Filter:
    """Find a filter by name, or read it from a folder path.

    Raises:
        UnknownStyleError: no filter of that name; the message lists the known ones.
        FilterError: the filter's metadata is broken.
    """
    text = str(style)
    if not text.strip():
        raise UnknownStyleError("empty style name; give a filter name (see `streamstyle filters`) or a folder")
    if os.sep in text or "/" in text or Path(text).is_dir():
        return Filter.from_folder(text)
    for directory in filter_search_path():
        if (directory / text / METADATA_FILE).is_file():
            return Filter.from_folder(directory / text)
    known = ", ".join(f.name for f in list_filters()) or "none installed"
    raise UnknownStyleError(f"unknown style {text!r}; known filters: {known}")
