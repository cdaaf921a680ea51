"""Networks: exact parameter counts of the seed tables, any size in = same size out,
batch / memory-format / precision invariance, the InstanceNorm layer, and the StyleBank's banks."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from streamstyle import InvalidOptionError, build_model
from streamstyle.models import ARCHITECTURES, StyleBankNet, count_conv_parameters, count_parameters
from streamstyle.models.fusion import FusionModule
from streamstyle.models.layers import ConvLayer, InstanceNorm2d
from streamstyle.models.stylebank import SingleStyleNet

# Conv weights + biases (norms excluded). The first three are the seeds' own numbers
# (seed 000 Fig. 5); the others are what these implementations have, documented here.
CONV_PARAMETERS = {
    "johnson": 1_676_035,  # seed 000 Fig. 5(a)
    "johnson_in": 1_676_035,  # same convs, 3x3 upsample+conv in place of 3x3 transposed convs
    "fusion": 631_555,  # seed 000 Fig. 5(b)
    "depsep": 851_727,  # separable convs (multiplier 4), regular 3x3 transposed convs
    "depsep_nn": 807_439,  # separable convs everywhere
    "depsep_nn_bil": 855_311,  # the up-convs see nearest+bilinear concatenated (2x the channels)
    "stylebank": 33_987,  # encoder 7,760 + decoder 7,731 + one bank 18,496
}
# All parameters, norm layers' affine weights included.
ALL_PARAMETERS = {
    "johnson": 1_679_235,
    "johnson_in": 1_679_235,
    "fusion": 634_755,
    "depsep": 854_927,
    "depsep_nn": 810_639,
    "depsep_nn_bil": 858_511,
    "stylebank": 34_275,
}


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_parameter_counts(name: str) -> None:
    model = build_model(name)
    assert count_conv_parameters(model) == CONV_PARAMETERS[name]
    assert count_parameters(model) == ALL_PARAMETERS[name]


def test_johnson_layers_match_seed_table() -> None:
    model = build_model("johnson")
    rows = [model.conv1, model.conv2, model.conv3, *model.middle, model.deconv1, model.deconv2, model.deconv3]
    assert [count_conv_parameters(layer) for layer in rows] == [
        7_808, 18_496, 73_856, 295_168, 295_168, 295_168, 295_168, 295_168, 73_792, 18_464, 7_779,
    ]  # fmt: skip


def test_fusion_module_matches_seed_table() -> None:
    assert count_conv_parameters(FusionModule(128)) == 86_272
    assert [count_conv_parameters(m) for m in build_model("fusion").middle] == [86_272] * 5


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
@pytest.mark.parametrize(("height", "width"), [(37, 53), (64, 64), (5, 130), (1, 1)])
def test_output_size_equals_input_size(name: str, height: int, width: int) -> None:
    model = build_model(name).eval()
    with torch.inference_mode():
        out = model(torch.rand(2, 3, height, width) * 255)
    assert out.shape == (2, 3, height, width)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_batch_and_channels_last_give_the_same_result(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name).eval()
    frames = torch.rand(3, 3, 45, 61) * 255
    last = torch.channels_last
    with torch.inference_mode():
        together = model(frames)
        one_by_one = torch.cat([model(frame[None]) for frame in frames])
        channels_last = model.to(memory_format=last)(frames.contiguous(memory_format=last))
    torch.testing.assert_close(together, one_by_one, atol=2e-3, rtol=1e-4)
    torch.testing.assert_close(together, channels_last, atol=2e-3, rtol=1e-4)


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_instance_norm_layer_is_torchs_instance_norm(memory_format: torch.memory_format) -> None:
    torch.manual_seed(0)
    ours, torchs = InstanceNorm2d(16), nn.InstanceNorm2d(16, affine=True)
    with torch.no_grad():
        ours.weight.uniform_(0.5, 2), ours.bias.uniform_(-1, 1)
    torchs.load_state_dict(ours.state_dict())
    frames = (torch.randn(3, 16, 23, 31) * 40 + 7).contiguous(memory_format=memory_format).requires_grad_()
    torch.testing.assert_close(ours(frames), torchs(frames), atol=1e-5, rtol=1e-5)
    (gradient,) = torch.autograd.grad(ours(frames).square().sum(), frames)
    (expected,) = torch.autograd.grad(torchs(frames).square().sum(), frames)
    torch.testing.assert_close(gradient, expected, atol=1e-4, rtol=1e-4)
    low = ours.to(torch.bfloat16)(frames.detach().to(torch.bfloat16)).float()
    assert (low - torchs(frames).detach()).abs().max() < 0.05, "bf16 statistics are computed in fp32"


@pytest.mark.parametrize(("channels", "out_channels", "kernel", "parts"), [(32, 3, 9, 3), (16, 3, 3, 3), (32, 5, 5, 1)])
def test_rgb_output_layer_runs_in_row_bands_as_the_same_convolution(
    channels: int, out_channels: int, kernel: int, parts: int
) -> None:
    torch.manual_seed(0)
    layer = ConvLayer(channels, out_channels, kernel).double()
    assert layer.row_parts == parts, "bands whose output channels fit one 16-channel block; 1 where none divide"
    plain = nn.Sequential(layer.pad, layer.conv)
    frames = torch.randn(2, channels, 21, 34, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    frames.requires_grad_()
    torch.testing.assert_close(layer(frames), plain(frames), atol=1e-10, rtol=1e-10)
    (gradient,) = torch.autograd.grad(layer(frames).square().sum(), frames)
    (expected,) = torch.autograd.grad(plain(frames).square().sum(), frames)
    torch.testing.assert_close(gradient, expected, atol=1e-9, rtol=1e-9)
    reference = plain(frames).detach()
    low = layer.to(torch.bfloat16)(frames.detach().to(torch.bfloat16)).float()
    assert (low - reference).abs().max() < 0.05, "bands are summed in fp32"


def test_narrow_inputs_and_strided_layers_run_whole() -> None:
    assert ConvLayer(8, 3, 9).row_parts == 1, "summing bands costs more than it saves on 8 input channels"
    assert ConvLayer(32, 3, 9, stride=2).row_parts == 1
    assert ConvLayer(32, 64, 3).row_parts == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_reduced_precision_on_cuda_is_close_to_fp32(name: str, dtype: torch.dtype) -> None:
    model = build_model(name).eval().cuda()
    frames = torch.rand(2, 3, 72, 96, device="cuda") * 255
    with torch.inference_mode():
        reference = model(frames).clamp(0, 255)
        low = model.to(dtype, memory_format=torch.channels_last)(frames.to(dtype)).float().clamp(0, 255)
    assert (low - reference).abs().mean() < 2.0


def test_stylebank_per_item_choice_and_mixing() -> None:
    torch.manual_seed(0)
    model = StyleBankNet(styles=["a", "b"]).eval()
    frames = torch.rand(2, 3, 40, 48) * 255
    with torch.inference_mode():
        only_a, only_b = model(frames, "a"), model(frames, 1)
        per_item = model(frames, ["a", "b"])
        half = model(frames, {"a": 0.5, "b": 0.5})
        pure = model(frames, {"a": 1.0})
    torch.testing.assert_close(per_item[0], only_a[0])
    torch.testing.assert_close(per_item[1], only_b[1])
    torch.testing.assert_close(pure, only_a)
    assert not torch.allclose(half, only_a) and not torch.allclose(half, only_b)
    with pytest.raises(KeyError, match="no bank 'c'"):
        model(frames, "c")


def test_stylebank_add_bank_leaves_everything_else_untouched() -> None:
    model = StyleBankNet(styles=["a"])
    before = {key: value.clone() for key, value in model.state_dict().items()}
    model.add_bank("b")
    after = model.state_dict()
    assert all(torch.equal(before[key], after[key]) for key in before)
    assert model.styles == ["a", "b"]
    assert count_conv_parameters(model) == CONV_PARAMETERS["stylebank"] + 18_496
    with pytest.raises(ValueError, match="taken"):
        model.add_bank("a")


def test_unknown_architecture_and_options() -> None:
    with pytest.raises(InvalidOptionError, match=r"known: .*johnson_in"):
        build_model("nope")
    with pytest.raises(InvalidOptionError, match="bad options"):
        build_model("johnson_in", depth=3)


def test_stylebank_single_style_network_is_the_bank_and_scripts() -> None:
    model = StyleBankNet(styles=["a", "b"]).eval()
    single = SingleStyleNet(model, "b")
    frames = torch.rand(2, 3, 37, 53) * 255
    with torch.inference_mode():
        torch.testing.assert_close(single(frames), model(frames, "b"))
        torch.testing.assert_close(torch.jit.script(single)(frames), model(frames, "b"))


@pytest.mark.parametrize("name", sorted(set(ARCHITECTURES) - {"stylebank"}))
def test_every_network_scripts_for_export(name: str) -> None:
    model = build_model(name).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, still the format users ask for
        scripted = torch.jit.script(model)
    frames = torch.rand(1, 3, 37, 53) * 255
    with torch.inference_mode():
        torch.testing.assert_close(scripted(frames), model(frames))
