"""IDALayer: analytic gradients (feature, condition and weights) equal finite differences."""

import pytest
import torch
from torch.func import functional_call

from degplug.nn.ida import IDALayer


@pytest.mark.parametrize("depthwise", [False, True])
@pytest.mark.parametrize("feature_size, condition_size", [((6, 8), (3, 4)), ((5, 7), (2, 3))])
def test_ida_gradients_match_finite_differences(depthwise, feature_size, condition_size):
    torch.manual_seed(0)
    layer = IDALayer(channels=3, cond_channels=2, depthwise=depthwise).double()
    with torch.no_grad():  # the zero-initialised output convolution would make every gradient trivially zero
        for parameter in layer.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    generator = torch.Generator().manual_seed(1)
    feature = torch.rand(2, 3, *feature_size, dtype=torch.float64, generator=generator, requires_grad=True)
    condition = torch.rand(2, 2, *condition_size, dtype=torch.float64, generator=generator, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (feature, condition), eps=1e-6, atol=1e-5)
    names = [name for name, _ in layer.named_parameters()]
    weights = tuple(parameter.detach().clone().requires_grad_(True) for _, parameter in layer.named_parameters())

    def of_the_weights(*values):
        return functional_call(layer, dict(zip(names, values)), (feature.detach(), condition.detach()))

    assert torch.autograd.gradcheck(of_the_weights, weights, eps=1e-6, atol=1e-5)
