"""Plugins: a real package, installed by pip, that adds a filter folder and a stage through entry points."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import make_video, probe

from streamstyle import GraphSyntaxError, Scale, build_graph, format_graph, parse_graph
from streamstyle.filters import BUNDLED_FILTER_DIRS, METADATA_FILE, filter_search_path
from streamstyle.plugins import plugin_filter_dirs
from streamstyle.stages import stage_registry

STREAMSTYLE = Path(sys.executable).with_name("streamstyle")
"""The console script, as a user runs it."""

PYPROJECT = """\
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "streamstyle-test-plugin"
version = "1.0"

[project.entry-points."streamstyle.filters"]
plugin = "ssplugin:FILTERS"
broken = "ssplugin:MISSING"

[project.entry-points."streamstyle.stages"]
invert = "ssplugin.stages:Invert"
scale = "ssplugin.stages:Impostor"
helper = "ssplugin.stages:helper"
renamed = "ssplugin.stages:Invert"

[tool.setuptools.package-data]
ssplugin = ["filters/*/*"]
"""

INIT = """\
from pathlib import Path

FILTERS = Path(__file__).parent / "filters"
"""

STAGES = """\
from streamstyle.frames import FrameBatch
from streamstyle.stages import Stage


class Invert(Stage):
    name = "invert"

    def __call__(self, batch: FrameBatch) -> FrameBatch:
        return batch.with_pixels(255 - batch.pixels)


class Impostor(Invert):
    name = "scale"


def helper() -> None:
    pass
"""


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder that pip installed the plugin package into (it joins sys.path through PYTHONPATH).

    The package ships the bundled ``starry`` as ``plugin_starry``, the ``invert`` stage, a broken
    filter entry point and three stage entry points that must be rejected.
    """
    source = tmp_path_factory.mktemp("plugin_source")
    starry = next(d / "starry" for d in BUNDLED_FILTER_DIRS if (d / "starry").is_dir())
    folder = shutil.copytree(starry, source / "ssplugin" / "filters" / "plugin_starry")
    meta = folder / METADATA_FILE
    meta.write_text(meta.read_text(encoding="utf-8").replace('name = "starry"', 'name = "plugin_starry"'), "utf-8")
    (source / "ssplugin" / "__init__.py").write_text(INIT, encoding="utf-8")
    (source / "ssplugin" / "stages.py").write_text(STAGES, encoding="utf-8")
    (source / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    site = tmp_path_factory.mktemp("plugin_site")
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-build-isolation", "--no-deps"]
    subprocess.run([*pip, "--target", str(site), str(source)], check=True, capture_output=True)
    return site


@pytest.fixture
def installed(plugin_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The plugin on this process's sys.path, with the plugin caches cleared before and after."""
    monkeypatch.syspath_prepend(str(plugin_site))
    plugin_filter_dirs.cache_clear()
    stage_registry.cache_clear()
    yield plugin_site
    plugin_filter_dirs.cache_clear()
    stage_registry.cache_clear()


def run(command: list[str], site: Path) -> subprocess.CompletedProcess[str]:
    """Run a command with the plugin on PYTHONPATH, as for a user who pip-installed it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    env.pop("STREAMSTYLE_FILTER_PATH", None)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_filters_command_lists_the_plugin_filter_and_skips_a_broken_plugin(plugin_site: Path) -> None:
    listed = run([str(STREAMSTYLE), "filters"], plugin_site)
    assert listed.returncode == 0, listed.stderr
    names = [line.split()[0] for line in listed.stdout.splitlines()]
    assert {"plugin_starry", "starry"} <= set(names)
    assert "warning: skipped streamstyle.filters plugin 'broken'" in listed.stderr
    assert "no attribute 'MISSING'" in listed.stderr
    shown = run([str(STREAMSTYLE), "filters", "show", "plugin_starry"], plugin_site)
    assert shown.returncode == 0, shown.stderr
    assert "(verified)" in shown.stdout
    assert str(plugin_site / "ssplugin" / "filters" / "plugin_starry") in shown.stdout


def test_listing_filters_with_plugins_does_not_import_torch(plugin_site: Path) -> None:
    code = (
        "import sys; from streamstyle.filters import list_filters; "
        "assert 'plugin_starry' in [f.name for f in list_filters()]; assert 'torch' not in sys.modules"
    )
    result = run([sys.executable, "-c", code], plugin_site)
    assert result.returncode == 0, result.stderr


def test_stylize_with_the_plugin_filter(plugin_site: Path, tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4", frames=2, size=(32, 24), audio=False)
    out = tmp_path / "out.mp4"
    command = [str(STREAMSTYLE), str(clip), "--style", "plugin_starry", "-o", str(out), "--device", "cpu"]
    result = run(command, plugin_site)
    assert result.returncode == 0, result.stderr
    assert probe(out)["frames"] == 2


def test_graph_with_the_plugin_stage_inverts_the_video(plugin_site: Path, tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4", frames=5, audio=False)
    out = tmp_path / "out.mp4"
    code = (
        "from streamstyle.files import ComputeOptions, stylize_file; "
        f"stylize_file({str(clip)!r}, {str(out)!r}, stages='invert', compute=ComputeOptions(device='cpu'))"
    )
    result = run([sys.executable, "-c", code], plugin_site)
    assert result.returncode == 0, result.stderr
    before, after = probe(clip), probe(out)
    assert after["frames"] == before["frames"] == 5
    for frame, inverted in zip(before["rgb"], after["rgb"], strict=True):
        assert np.abs((255 - frame.astype(int)) - inverted).mean() < 5  # x264 loss only


def test_stage_registry_adds_plugin_stages_and_rejects_the_others(
    installed: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="streamstyle"):
        registry = stage_registry()
        assert stage_registry() is registry  # entry points are scanned once
    assert registry["invert"].__module__ == "ssplugin.stages"
    assert registry["scale"] is Scale
    assert {"helper", "renamed"}.isdisjoint(registry)
    warnings = [r.getMessage() for r in caplog.records if r.name.startswith("streamstyle")]
    assert len(warnings) == 3
    assert any("'scale'" in w and "built-in" in w for w in warnings)
    assert any("'helper'" in w and "not a streamstyle.stages.Stage subclass" in w for w in warnings)
    assert any("'renamed'" in w and "name is 'invert', not 'renamed'" in w for w in warnings)


def test_graph_strings_know_plugin_stages(installed: Path) -> None:
    with pytest.raises(GraphSyntaxError, match=r"unknown stage 'blur'; stages: .*invert"):
        parse_graph("blur")
    stages = build_graph("scale=w=32,invert")
    assert [stage.name for stage in stages] == ["scale", "invert"]
    assert format_graph(stages) == "scale=w=32,invert"


def test_search_path_order(installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMSTYLE_FILTER_PATH", str(tmp_path))
    bundled = [d for d in BUNDLED_FILTER_DIRS if d.is_dir()]
    assert filter_search_path() == [tmp_path, installed / "ssplugin" / "filters", *bundled]
