"""Degradation editing: interpolation, single-dimension scaling, picture strips."""

import pytest
import torch

from degplug.udm.editing import interpolate, join_strip, render_strip, scale_dimension
from degplug.udm.embedding import DegradationEmbedding
from tests.helpers.udm_models import tiny_udm

torch.set_num_threads(1)


def embedding(value: float, map_size: int = 4) -> DegradationEmbedding:
    return DegradationEmbedding(torch.full((1, 6), value), torch.full((1, 2, map_size, map_size), value / 10))


def test_interpolation_includes_both_ends_and_is_linear_in_between():
    steps = interpolate(embedding(0.0), embedding(4.0, map_size=8), 5)
    assert [float(e.global_vector[0, 0]) for e in steps] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert steps[-1].local_map.shape == (1, 2, 4, 4)  # resized to the start's grid
    assert float(steps[2].local_map.mean()) == pytest.approx(0.2)


def test_interpolation_rejects_mismatched_embeddings_and_too_few_steps():
    with pytest.raises(ValueError, match="steps"):
        interpolate(embedding(0.0), embedding(1.0), 1)
    with pytest.raises(ValueError, match="local map"):
        interpolate(embedding(0.0), DegradationEmbedding(torch.zeros(1, 6)), 3)


def test_scaling_changes_only_the_chosen_dimension():
    base = DegradationEmbedding(torch.arange(1.0, 7.0)[None], None)
    scaled = scale_dimension(base, 2, [0.0, 1.0, 3.0])
    assert [float(e.global_vector[0, 2]) for e in scaled] == [0.0, 3.0, 9.0]
    assert torch.equal(scaled[2].global_vector[0, [0, 1, 3, 4, 5]], base.global_vector[0, [0, 1, 3, 4, 5]])
    with pytest.raises(ValueError, match="dimension"):
        scale_dimension(base, 6, [1.0])


def test_strip_puts_pictures_side_by_side_with_white_gaps():
    strip = join_strip([torch.zeros(1, 3, 8, 5), torch.zeros(3, 8, 7)], gap=2)
    assert strip.shape == (1, 3, 8, 14)
    assert torch.all(strip[..., 5:7] == 1) and torch.all(strip[..., :5] == 0)


def test_rendered_strip_starts_with_the_clean_image_and_scaling_changes_the_output():
    model = tiny_udm()
    clean = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    reference = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        encoded = model.encode(reference)
    dim = int(encoded.global_vector[0].abs().argmax())
    strip = render_strip(model, clean, scale_dimension(encoded, dim, [1.0, 5.0]), seed=0)
    assert strip.shape == (1, 3, 16, 16 * 3 + 2 * 4)
    assert torch.equal(strip[..., :16], clean)
    unit, scaled = strip[..., 20:36], strip[..., 40:56]
    assert torch.allclose(unit, model.synthesize(clean, encoded, seed=0))
    assert not torch.allclose(unit, scaled)
