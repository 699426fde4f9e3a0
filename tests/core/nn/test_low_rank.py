import pytest
import torch
import torch.nn.functional as F

from degplug.nn.low_rank import LowRankTensorTransform, low_rank_cube


def _unfolding_ranks(cube: torch.Tensor) -> tuple[int, int, int]:
    c, h, w = cube.shape
    return (
        int(torch.linalg.matrix_rank(cube.reshape(c, h * w))),
        int(torch.linalg.matrix_rank(cube.permute(1, 0, 2).reshape(h, c * w))),
        int(torch.linalg.matrix_rank(cube.permute(2, 0, 1).reshape(w, c * h))),
    )


def test_rank_one_cube_is_the_exact_outer_product():
    g = torch.Generator().manual_seed(0)
    a, b, d = torch.rand(1, 1, 5, generator=g), torch.rand(1, 1, 7, generator=g), torch.rand(1, 1, 4, generator=g)
    expected = a[0, 0][:, None, None] * b[0, 0][None, :, None] * d[0, 0][None, None, :]
    torch.testing.assert_close(low_rank_cube(a, b, d)[0], expected)


def test_cube_is_the_mean_not_the_sum_of_rank_one_terms():
    ones = torch.ones(2, 6, 3)
    cube = low_rank_cube(ones, torch.ones(2, 6, 4), torch.ones(2, 6, 5))
    torch.testing.assert_close(cube, torch.ones(2, 3, 4, 5))


def test_cube_unfoldings_have_rank_at_most_r_and_reach_it_generically():
    g = torch.Generator().manual_seed(1)
    rank = 3
    a, b, d = (torch.rand(1, rank, n, generator=g, dtype=torch.float64) for n in (10, 12, 9))
    assert _unfolding_ranks(low_rank_cube(a, b, d)[0]) == (rank, rank, rank)


def test_transform_attention_is_in_unit_interval_with_rank_at_most_16():
    torch.manual_seed(0)
    lrt = LowRankTensorTransform(channels=20, rank=16).double()
    x = torch.randn(2, 20, 24, 25, dtype=torch.float64)
    attention = lrt.attention(x)
    assert attention.shape == x.shape
    assert attention.min() > 0 and attention.max() < 1
    for ranks in (_unfolding_ranks(attention[0]), _unfolding_ranks(attention[1])):
        assert max(ranks) <= 16
        assert min(ranks) > 1  # genuinely a sum of several rank-1 terms


def _authors_low_rank_transform(x, conv_c, conv_h, conv_w, rank):
    """The authors' ``Low_rank_transform.forward`` written out: pooled factors through 1×1 convs and
    sigmoids, viewed as (N, rank, C, 1, 1), (N, rank, 1, H, 1), (N, rank, 1, 1, W); x times the mean
    over the rank of their broadcast product (no identity term)."""
    n, c, h, w = x.shape
    factor_c = torch.sigmoid(F.conv2d(x.mean(dim=(2, 3), keepdim=True), conv_c.weight, conv_c.bias)).view(n, rank, c, 1, 1)
    factor_h = torch.sigmoid(F.conv2d(x.mean(dim=3, keepdim=True), conv_h.weight, conv_h.bias)).view(n, rank, 1, h, 1)
    factor_w = torch.sigmoid(F.conv2d(x.mean(dim=2, keepdim=True), conv_w.weight, conv_w.bias)).view(n, rank, 1, 1, w)
    return x * (factor_c * factor_h * factor_w).mean(dim=1)


def test_transform_forward_is_the_authors_x_times_attention_without_identity():
    torch.manual_seed(0)
    lrt = LowRankTensorTransform(channels=6, rank=4).double()
    x = torch.randn(2, 6, 7, 9, dtype=torch.float64)
    expected = _authors_low_rank_transform(x, lrt.channel_factor, lrt.height_factor, lrt.width_factor, rank=4)
    torch.testing.assert_close(lrt(x), expected)
    # no identity path: a zero feature stays zero, and the output is smaller than x everywhere
    assert torch.equal(lrt(torch.zeros_like(x)), torch.zeros_like(x))
    assert (lrt(x).abs() < x.abs()).all()


def test_transform_attention_depends_on_the_input():
    torch.manual_seed(0)
    lrt = LowRankTensorTransform(channels=4, rank=2)
    x = torch.randn(1, 4, 5, 5)
    assert not torch.allclose(lrt.attention(x), lrt.attention(x * 3 + 1))


def test_transform_rejects_wrong_channel_count_and_mismatched_factors():
    with pytest.raises(ValueError, match="channels"):
        LowRankTensorTransform(channels=4)(torch.randn(1, 5, 3, 3))
    with pytest.raises(ValueError, match="rank"):
        low_rank_cube(torch.rand(1, 2, 3), torch.rand(1, 3, 4), torch.rand(1, 2, 5))
