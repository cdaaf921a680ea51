"""A filter folder with random weights, for benchmarks (speed does not depend on the values)."""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import save_file

from streamstyle.filters import file_sha256
from streamstyle.models import build_model, count_parameters


def write_random_filter(folder: Path, architecture: str = "johnson_in") -> Path:
    """Write ``folder`` as a complete filter of ``architecture`` with random weights."""
    folder.mkdir(parents=True, exist_ok=True)
    model = build_model(architecture)
    weights = folder / "weights.safetensors"
    save_file({key: value.contiguous() for key, value in model.state_dict().items()}, str(weights))
    (folder / "filter.toml").write_text(
        f'schema = 1\nname = "{folder.name}"\ntitle = "random {architecture}"\n'
        '[style]\nartist = "-"\ncredit = "-"\nlicence = "-"\n'
        f'[model]\narchitecture = "{architecture}"\nweights = "weights.safetensors"\n'
        f'sha256 = "{file_sha256(weights)}"\nparameters = {count_parameters(model)}\n'
    )
    return folder
