"""Embedding analysis: active-dimension count, parameter correlations, plots."""

import json
import math

import pytest
import torch

from degplug.degradations.pipeline import AppliedDegradation, PipelineParams
from degplug.degradations.registry import params_from_dict
from degplug.eval.analysis_data import EmbeddingSet
from degplug.eval.analysis_report import save_analysis
from degplug.eval.embedding_statistics import (
    active_dimensions,
    analyze_embeddings,
    parameter_features,
    pca_2d,
    pearson,
)

torch.set_num_threads(1)


def synthetic_vectors(varying: int, dims: int = 64, samples: int = 200, seed: int = 0) -> torch.Tensor:
    """``varying`` dimensions with variances between 0.25 and 4, the rest near-constant (as after rounding)."""
    generator = torch.Generator().manual_seed(seed)
    vectors = 0.001 * torch.randn(samples, dims, generator=generator) + torch.linspace(-1, 1, dims)
    scales = torch.linspace(0.5, 2.0, varying)
    chosen = torch.randperm(dims, generator=generator)[:varying]
    vectors[:, chosen] += torch.randn(samples, varying, generator=generator) * scales
    return vectors, chosen


@pytest.mark.parametrize("varying", [1, 5, 12])
def test_active_dimension_count_matches_the_number_of_varying_dimensions(varying):
    vectors, chosen = synthetic_vectors(varying)
    result = active_dimensions(vectors)
    assert result.count == varying
    assert set(result.active) == {int(c) for c in chosen}
    assert float(result.variances[result.active[0]]) == pytest.approx(float(result.variances.max()))


def test_constant_embeddings_have_no_active_dimension_and_one_sample_is_rejected():
    assert active_dimensions(torch.ones(10, 8)).count == 0
    with pytest.raises(ValueError, match="N >= 2"):
        active_dimensions(torch.ones(1, 8))


def noise_params(sigma: float) -> PipelineParams:
    step = params_from_dict("gaussian_noise", {"sigma": sigma, "gray": False, "noise_seed": 3})
    return PipelineParams([AppliedDegradation("gaussian_noise", step)])


def test_parameter_features_mark_presence_and_values_and_skip_seeds():
    features = parameter_features([noise_params(10.0), PipelineParams([]), None])
    assert features["gaussian_noise"] == [1.0, 0.0, 0.0]
    assert features["gaussian_noise.sigma"][0] == 10.0 and all(math.isnan(v) for v in features["gaussian_noise.sigma"][1:])
    assert not any("seed" in name for name in features)


def test_a_dimension_driven_by_noise_sigma_correlates_with_it_and_the_others_do_not():
    generator = torch.Generator().manual_seed(0)
    sigmas = torch.rand(80, generator=generator) * 30
    vectors = torch.zeros(80, 6)
    vectors[:, 2] = sigmas / 10 + 0.05 * torch.randn(80, generator=generator)
    vectors[:, 4] = torch.randn(80, generator=generator)
    embeddings = EmbeddingSet(vectors, [None] * 80, [torch.rand(3, 8, 8)] * 80, [noise_params(float(s)) for s in sigmas])
    analysis = analyze_embeddings(embeddings)
    assert sorted(analysis.active.active) == [2, 4]
    assert analysis.correlations[2]["gaussian_noise.sigma"] > 0.95
    assert abs(analysis.correlations[4]["gaussian_noise.sigma"]) < 0.3
    assert math.isnan(pearson(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 1.0])))  # too few samples


def test_pca_projection_recovers_the_main_axis():
    generator = torch.Generator().manual_seed(0)
    t = torch.randn(50, generator=generator)
    vectors = torch.stack([t, 2 * t, 0.01 * torch.randn(50, generator=generator)], dim=1)
    projected = pca_2d(vectors)
    assert abs(pearson(projected[:, 0], t)) > 0.999


def test_save_analysis_writes_tables_and_three_plots(tmp_path):
    vectors, _ = synthetic_vectors(3, dims=16, samples=12)
    maps = [torch.rand(4, 8, 8) for _ in range(12)]
    params = [noise_params(float(5 + i)) for i in range(12)]
    embeddings = EmbeddingSet(vectors, maps, [torch.rand(3, 16, 16) for _ in range(12)], params)
    analysis = analyze_embeddings(embeddings)
    written = save_analysis(analysis, embeddings, tmp_path / "out")
    for key in ("variances", "projection", "local_maps"):
        assert written[key].stat().st_size > 1000 and written[key].read_bytes()[:4] == b"\x89PNG"
    payload = json.loads(written["json"].read_text())
    assert payload["active_count"] == 3 and "Active dimensions of e_g: 3" in written["markdown"].read_text()
