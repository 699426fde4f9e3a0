"""filter2d's differentiable path: analytic gradients equal finite differences (torch.autograd.gradcheck)."""

import pytest
import torch

from degplug.degradations.filtering import filter2d
from degplug.degradations.kernels import gaussian_kernel


@pytest.mark.parametrize("size", [(7, 9), (2, 3)])  # reflect padding, and replicate when the image is smaller than the pad
def test_filter2d_gradient_matches_finite_differences(size):
    kernel = gaussian_kernel(5, 1.2, 0.7, 0.3)  # anisotropic and rotated: not symmetric in x and y
    image = torch.rand(2, 3, *size, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: filter2d(x, kernel), (image,), eps=1e-6, atol=1e-5)


def test_filter2d_gradient_is_the_correlation_adjoint():
    """⟨filter2d(x), g⟩ = ⟨x, ∂⟩ for a random g, with the adjoint written out independently: for an
    interior pixel, ∂[i, j] = Σ_{a,b} g[i - a + r, j - b + r] · k[a, b] (convolution with the kernel)."""
    kernel = gaussian_kernel(3, 0.8, 1.5, 0.9)
    generator = torch.Generator().manual_seed(1)
    image = torch.rand(1, 1, 9, 9, dtype=torch.float64, generator=generator, requires_grad=True)
    weights = torch.rand(1, 1, 9, 9, dtype=torch.float64, generator=generator)
    (filter2d(image, kernel) * weights).sum().backward()
    k = kernel.to(torch.float64)
    for i, j in [(4, 4), (3, 5), (5, 3)]:  # interior: no padded sample reaches these
        expected = sum(weights[0, 0, i - a + 1, j - b + 1] * k[a, b] for a in range(3) for b in range(3))
        assert torch.isclose(image.grad[0, 0, i, j], expected, atol=1e-6), (i, j)
