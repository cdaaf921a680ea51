"""Loss networks, perceptual losses and Gatys optimisation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from click.testing import CliRunner
from conftest import SHARED_DATA, moving_pattern
from PIL import Image

from streamstyle.cli import main
from streamstyle.errors import WeightsUnavailableError
from streamstyle.train.losses import LossWeights, PerceptualLoss, charbonnier, gram_matrix, total_variation
from streamstyle.train.optimize import optimize_image
from streamstyle.train.vgg import load_loss_network

SHARED_VGG = SHARED_DATA / "weights" / "vgg19_normalised_conv1-4_fp16.pth"


@pytest.fixture(scope="module")
def vgg16_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A torchvision VGG16 state dict with random weights: the real file path, no download."""
    path = tmp_path_factory.mktemp("vgg") / "vgg16_random.pth"
    torch.manual_seed(0)
    features = torchvision.models.vgg16(weights=None).features  # the classifier is not needed
    torch.save({f"features.{key}": value for key, value in features.state_dict().items()}, path)
    return path


def test_gram_matrix_is_normalised_by_size() -> None:
    features = torch.ones(2, 3, 4, 5)
    gram = gram_matrix(features)
    assert gram.shape == (2, 3, 3)
    torch.testing.assert_close(gram, torch.full((2, 3, 3), 1 / 3))
    assert torch.allclose(gram_matrix(torch.ones(1, 3, 8, 10)), gram_matrix(torch.ones(1, 3, 4, 5)))


def test_total_variation_and_charbonnier() -> None:
    flat = torch.full((1, 3, 8, 8), 100.0)
    assert total_variation(flat) == 0
    stripes = flat.clone()
    stripes[..., ::2] = 0
    assert total_variation(stripes) > 0
    big = torch.tensor([10.0])
    assert charbonnier(big, torch.zeros(1)) == pytest.approx(10.0, rel=1e-6)
    assert charbonnier(torch.zeros(1), torch.zeros(1)) == pytest.approx(1e-3)


def test_torchvision_layout_file_gives_the_four_style_layers(vgg16_file: Path) -> None:
    network = load_loss_network(vgg16_file)
    assert network.style_layers == ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
    features = network(torch.rand(1, 3, 64, 48) * 255, network.style_layers)
    assert [tuple(f.shape[1:]) for f in features.values()] == [(64, 64, 48), (128, 32, 24), (256, 16, 12), (512, 8, 6)]
    assert not any(p.requires_grad for p in network.parameters()) and not network.training


@pytest.mark.skipif(not SHARED_VGG.is_file(), reason=f"needs {SHARED_VGG} (../shared/data)")
def test_normalised_vgg19_matches_its_full_precision_original() -> None:
    truncated = load_loss_network(SHARED_VGG)
    assert truncated.style_layers == ("relu1_2", "relu2_2", "relu3_4", "relu4_4")
    image = torch.from_numpy(moving_pattern(3, 64, 64)).permute(2, 0, 1)[None].float()
    features = truncated(image, ["relu2_2"])["relu2_2"]
    assert 0.1 < features.mean() < 10, "normalised VGG: activations of order 1"
    full = SHARED_VGG.with_name("vgg19_normalised.pth")
    if full.is_file():
        reference = load_loss_network(full)(image, ["relu2_2"])["relu2_2"]
        assert (features - reference).abs().max() < 0.05 * reference.abs().max()


def test_offline_without_vgg_names_both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(WeightsUnavailableError, match=r"vgg16-397923af\.pth.*TORCH_HOME.*--vgg PATH"):
        load_loss_network()
    with pytest.raises(WeightsUnavailableError, match="not found"):
        load_loss_network(tmp_path / "absent.pth")


def test_perceptual_loss_has_gradients_and_gatys_lowers_it(vgg16_file: Path) -> None:
    network = load_loss_network(vgg16_file)
    style = torch.from_numpy(moving_pattern(9, 48, 48)).permute(2, 0, 1)[None].float()
    content = torch.from_numpy(moving_pattern(0, 48, 48)[::-1].copy()).permute(2, 0, 1)[None].float()
    loss = PerceptualLoss(network, style, LossWeights(content=1.0, style=1e6, tv=1e-6))
    image = content.clone().requires_grad_(True)
    terms = loss(image, content)
    terms["total"].backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    assert terms["content"] == 0, "the content image has no content loss"
    steps: list[float] = []
    result = optimize_image(content, loss, steps=5, optimizer="adam", on_step=lambda _, t: steps.append(t["style"]))
    assert result.shape == content.shape and result.min() >= 0 and result.max() <= 255
    assert steps[-1] < steps[0]


def test_cli_optimize_writes_the_image(vgg16_file: Path, tmp_path: Path) -> None:
    content, style, out = tmp_path / "content.png", tmp_path / "style.png", tmp_path / "out.png"
    Image.fromarray(moving_pattern(0, 40, 32)).save(content)
    Image.fromarray(moving_pattern(7, 50, 50)).save(style)
    args = [str(content), str(style), "-o", str(out), "--steps", "3", "--optimizer", "adam", "--vgg", str(vgg16_file)]
    args += ["--size", "40"]
    result = CliRunner().invoke(main, ["optimize", *args])
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        assert image.size == (40, 32)
        assert np.abs(np.asarray(image).astype(int) - moving_pattern(0, 40, 32)).mean() > 0.5


def test_a_bad_vgg_file_says_what_it_is_not(tmp_path: Path) -> None:
    junk, pickled = tmp_path / "junk.pth", tmp_path / "model.pth"
    junk.write_text("not weights")
    torch.save(torch.nn.Conv2d(1, 1, 1), pickled)
    with pytest.raises(WeightsUnavailableError, match=r"not a file torch\.save wrote"):
        load_loss_network(junk)
    with pytest.raises(WeightsUnavailableError, match="Python objects") as caught:
        load_loss_network(pickled)
    assert "weights_only" not in str(caught.value) and "trust" not in str(caught.value)
