"""OBC: Optimal Brain Surgeon removal with compensation, checked against plain removal."""

import pytest
import torch
from torch import nn

from torchslim.models import InputSpec, build_model
from torchslim.prune.obc import OBCConfig, layer_hessian, obs_remove, prune_obc


def output_error(W, W_new, X):
    return float(((W - W_new) @ X).pow(2).sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_obs_compensated_weights_beat_plain_removal_of_the_same_columns(seed):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(8, 12, generator=g, dtype=torch.float64)
    mix = torch.randn(12, 12, generator=g, dtype=torch.float64)
    X = mix @ torch.randn(12, 500, generator=g, dtype=torch.float64)  # correlated inputs: compensation matters
    H = 2 * X @ X.T / X.shape[1]
    W_obs, removed, errors = obs_remove(W, H, block=1, n=4, dampening=1e-8)
    plain = W.clone()
    plain[:, removed] = 0
    assert (W_obs[:, removed] == 0).all() and len(set(removed)) == 4
    assert output_error(W, W_obs, X) < 0.8 * output_error(W, plain, X)
    # OBS's own error estimate is the true increase of the (Hessian-weighted) output error
    assert sum(errors) == pytest.approx(output_error(W, W_obs, X) * 2 / X.shape[1], rel=1e-3)


def test_obs_removes_whole_blocks_of_columns():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(4, 18, generator=g, dtype=torch.float64)
    X = torch.randn(18, 200, generator=g, dtype=torch.float64)
    W_obs, removed, _ = obs_remove(W, 2 * X @ X.T / 200, block=9, n=1)
    assert W_obs[:, removed[0] * 9 : removed[0] * 9 + 9].abs().max() == 0
    assert W_obs[:, (1 - removed[0]) * 9 :][:, :9].abs().min() > 0


def test_a_conv_layers_hessian_is_built_from_its_unfolded_inputs():
    conv = nn.Conv2d(2, 3, 3, padding=1)
    x = torch.randn(4, 2, 5, 5)
    H = layer_hessian(conv, conv, [x])
    cols = nn.functional.unfold(x.double(), 3, padding=1).transpose(1, 2).reshape(-1, 18)
    assert H.shape == (18, 18) and torch.allclose(H, 2 * cols.T @ cols / cols.shape[0])


def test_obc_halves_a_resnets_macs_through_its_inner_widths_only(make_ctx):
    from torchslim.measurement.complexity import count_flops

    spec = InputSpec(10, 3, 32)
    torch.manual_seed(0)
    model = build_model({"name": "resnet20", "kwargs": {"shortcut": "A"}}, spec).eval()
    base = count_flops(model, spec.shape)
    ctx = make_ctx(spec)
    out = prune_obc(model, OBCConfig(macs_target=0.5, calibration_samples=32), ctx)
    assert count_flops(out, spec.shape) / base <= 0.5 and ctx.notes["obc_layers"] == 9
    assert out.layers[0][0].conv2.out_channels == 16  # residual widths kept whole
    assert out.layers[0][0].conv1.out_channels < 16
    assert out(torch.zeros(2, *spec.shape)).shape == (2, 10)


@pytest.mark.parametrize(
    "stride,padding,output_padding,dilation", [(2, 1, 0, 1), (2, 1, 1, 1), (1, 0, 0, 1), (2, 2, 1, 2)]
)
def test_a_transposed_conv_is_the_direct_conv_obs_sees(stride, padding, output_padding, dilation):
    """OBS works on a direct convolution's unfolded inputs; a transposed one (a generator's layer) is
    rewritten as one, and only if the rewrite computes the same thing is its Hessian the right one."""
    from torchslim.prune.obc import as_direct_input, direct_weight

    torch.manual_seed(0)
    layer = nn.ConvTranspose2d(3, 5, 4, stride, padding, output_padding, dilation=dilation, bias=False).double()
    x = torch.randn(2, 3, 6, 7, dtype=torch.float64)
    direct = nn.functional.conv2d(as_direct_input(layer, x), direct_weight(layer, layer.weight), dilation=dilation)
    assert torch.allclose(direct, layer(x), atol=1e-12)
    assert torch.equal(direct_weight(layer, direct_weight(layer, layer.weight)), layer.weight)


def test_obs_on_a_transposed_conv_lowers_its_real_output_error_against_plain_removal():
    """The Hessian of the direct form, OBS on it, the kernel mapped back: the transposed layer's own output
    then moves less than when the same input channels are just zeroed."""
    from torchslim.prune.obc import direct_weight

    torch.manual_seed(0)
    layer = nn.ConvTranspose2d(6, 4, 4, 2, 1, bias=False).double()
    x = torch.einsum("nchw,cd->ndhw", torch.randn(32, 6, 5, 5, dtype=torch.float64), torch.randn(6, 6).double())
    H = layer_hessian(layer, layer, [x])
    direct = direct_weight(layer, layer.weight.detach())
    W_obs, removed, _ = obs_remove(direct.reshape(4, -1), H, block=16, n=3, dampening=1e-8)
    compensated = direct_weight(layer, W_obs.reshape(direct.shape))
    plain = layer.weight.detach().clone()
    plain[removed] = 0
    assert compensated[removed].abs().max() == 0  # the removed input channels, in (in, out, k, k)

    @torch.no_grad()
    def error(w):
        return float((nn.functional.conv_transpose2d(x, w, stride=2, padding=1) - layer(x)).pow(2).mean())

    assert error(compensated) < 0.8 * error(plain)
