"""Filters: the bundled ones against their schema, discovery, checksums and clear errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from conftest import write_filter
from PIL import Image

from streamstyle import FilterError, UnknownStyleError, find_filter, list_filters
from streamstyle.checksum import file_sha256
from streamstyle.filters import BUNDLED_FILTER_DIRS, METADATA_FILE, Filter
from streamstyle.filters import _checked_weights as checked_weights
from streamstyle.models import ARCHITECTURES, count_parameters

BUNDLED = sorted(p.parent for d in BUNDLED_FILTER_DIRS if d.is_dir() for p in d.glob(f"*/{METADATA_FILE}"))
RECIPE_FIELDS = ("trainer", "content_set", "loss_network", "style_weight", "content_weight", "iterations", "hardware")


def test_at_least_one_filter_ships() -> None:
    assert BUNDLED, "the README's main command needs a bundled filter"


@pytest.mark.parametrize("folder", BUNDLED, ids=lambda p: p.name)
def test_bundled_filter_matches_its_schema(folder: Path) -> None:
    meta = tomllib.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
    item = Filter.from_folder(folder)
    assert item.name == folder.name == meta["name"]
    assert item.title and item.artist and item.credit
    assert item.licence.lower().startswith("public domain"), "only public-domain paintings may ship"
    assert item.architecture in ARCHITECTURES
    assert item.weights.suffix == ".safetensors"
    assert file_sha256(item.weights) == item.sha256
    assert isinstance(item.recommended_size, int) and 64 <= item.recommended_size <= 4096
    for key in RECIPE_FIELDS:
        assert key in item.recipe, f"recipe.{key} missing"
    for image in (item.style_image, item.preview):
        assert image is not None and image.is_file()
        with Image.open(image) as opened:
            assert min(opened.size) >= 64
    model = item.load_model()
    assert count_parameters(model) == item.parameters == meta["model"]["parameters"]


def test_find_by_name_and_by_folder(tiny_filter: Path) -> None:
    assert find_filter("tiny").path == tiny_filter
    assert find_filter(str(tiny_filter)).name == "tiny"
    assert "tiny" in [f.name for f in list_filters()]


def test_search_path_comes_before_the_bundled_filters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not BUNDLED:
        pytest.skip("no bundled filter to shadow")
    write_filter(tmp_path / BUNDLED[0].name)
    monkeypatch.setenv("STREAMSTYLE_FILTER_PATH", str(tmp_path))
    assert find_filter(BUNDLED[0].name).path == tmp_path / BUNDLED[0].name


def test_unknown_name_lists_the_known_filters(tiny_filter: Path) -> None:
    with pytest.raises(UnknownStyleError, match=r"unknown style 'nope'; known filters: .*tiny") as caught:
        find_filter("nope")
    assert isinstance(caught.value, LookupError)


def test_checksum_mismatch_is_refused(tiny_filter: Path) -> None:
    weights = tiny_filter / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    with pytest.raises(FilterError, match="checksum mismatch"):
        find_filter("tiny").load_model()


def test_broken_metadata_is_reported(tiny_filter: Path) -> None:
    meta = tiny_filter / METADATA_FILE
    meta.write_text(meta.read_text().replace('architecture = "johnson_in"', ""))
    with pytest.raises(FilterError, match="missing field 'architecture'"):
        find_filter("tiny")
    meta.write_text("schema = [")
    with pytest.raises(FilterError, match="invalid TOML"):
        find_filter("tiny")


def test_weights_that_do_not_fit_the_architecture(tiny_filter: Path) -> None:
    meta = tiny_filter / METADATA_FILE
    meta.write_text(meta.read_text().replace("width = 4", "width = 8"))
    with pytest.raises(
        FilterError,
        match=r"do not fit johnson_in: (\S+) is \(4, 3, 9, 9\) in the file, the network needs \(8, 3, 9, 9\)",
    ):
        find_filter("tiny").load_model()


@pytest.mark.parametrize("weights", ["/dev/zero", "../../elsewhere.safetensors", "sub"])
def test_weights_must_be_a_regular_file_inside_the_folder(tiny_filter: Path, weights: str) -> None:
    (tiny_filter / "sub").mkdir()
    meta = tiny_filter / METADATA_FILE
    meta.write_text(meta.read_text().replace('weights = "weights.safetensors"', f"weights = {weights!r}"))
    with pytest.raises(FilterError, match=r"outside the filter folder|not a regular file"):
        find_filter("tiny").verify_checksum()


def test_weights_are_read_once_per_process_until_the_file_changes(tiny_filter: Path) -> None:
    item = find_filter("tiny")
    first = item.load_model()
    reads = checked_weights.cache_info().misses
    second = item.load_model()
    assert checked_weights.cache_info().misses == reads, "the second load reads no file"
    assert first is not second and all(
        a.data_ptr() != b.data_ptr() for a, b in zip(first.parameters(), second.parameters(), strict=True)
    ), "each load is a network of its own"
    (tiny_filter / "weights.safetensors").write_bytes(b"replaced meanwhile" * 100)
    with pytest.raises(FilterError, match="checksum mismatch"):
        item.load_model()
