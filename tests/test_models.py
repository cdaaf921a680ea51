"""Networks: shapes for any size, parameter counts, batch and memory-format invariance."""

from __future__ import annotations

import pytest
import torch

from streamstyle import InvalidOptionError, build_model
from streamstyle.models import ARCHITECTURES, count_parameters


def conv_parameters(model: torch.nn.Module) -> int:
    """Conv weights and biases only (norm layers excluded), as the seed papers count."""
    return sum(p.numel() for m in model.modules() if isinstance(m, torch.nn.Conv2d) for p in m.parameters())


def test_johnson_in_parameter_counts() -> None:
    model = build_model("johnson_in")
    # Seed 000 counts 1,676,035 conv parameters for Johnson et al. with transposed convs;
    # johnson_in replaces the two 3x3 transposed convs by 3x3 convs of the same shape, so the
    # conv count is the same; InstanceNorm adds 2 x (32+64+128+10*128+64+32) = 3,200 affine parameters.
    assert conv_parameters(model) == 1_676_035
    assert count_parameters(model) == 1_676_035 + 3_200


@pytest.mark.parametrize(("height", "width"), [(64, 64), (37, 53), (1, 1), (5, 130), (31, 17)])
def test_output_size_equals_input_size(height: int, width: int) -> None:
    model = build_model("johnson_in", width=4, residual_blocks=1).eval()
    with torch.inference_mode():
        out = model(torch.rand(2, 3, height, width) * 255)
    assert out.shape == (2, 3, height, width)


def test_batch_and_channels_last_give_the_same_result() -> None:
    torch.manual_seed(0)
    model = build_model("johnson_in", width=8, residual_blocks=2).eval()
    frames = torch.rand(3, 3, 45, 61) * 255
    with torch.inference_mode():
        together = model(frames)
        one_by_one = torch.cat([model(frame[None]) for frame in frames])
        last = torch.channels_last
        channels_last = model.to(memory_format=last)(frames.contiguous(memory_format=last))
    torch.testing.assert_close(together, one_by_one, atol=1e-3, rtol=1e-4)
    torch.testing.assert_close(together, channels_last, atol=1e-3, rtol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_half_precision_on_cuda_is_close_to_fp32() -> None:
    model = build_model("johnson_in").eval().cuda()
    frames = torch.rand(2, 3, 64, 96, device="cuda") * 255
    with torch.inference_mode():
        reference = model(frames)
        half = model.half()(frames.half()).float()
    assert (half - reference).abs().mean() < 1.0


def test_unknown_architecture_and_options() -> None:
    with pytest.raises(InvalidOptionError, match="known: johnson_in"):
        build_model("nope")
    with pytest.raises(InvalidOptionError, match="bad options"):
        build_model("johnson_in", depth=3)
    assert "johnson_in" in ARCHITECTURES
