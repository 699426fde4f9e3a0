"""`evaluate_udm`: the reproduction/transfer table with its identity and random-degradation baselines."""

import json

import pytest
import torch

from degplug.degradations.pipeline import AppliedDegradation, PipelineParams
from degplug.degradations.registry import params_from_dict
from degplug.eval.evaluation_tuples import (
    EvaluationTuple,
    paired_folder_tuples,
    split_homogeneous,
    synthetic_tuples,
)
from degplug.eval.metrics import build_metrics
from degplug.eval.udm_table import evaluate_udm
from degplug.udm.config import UDMConfig
from degplug.udm.model import UniversalDegradationModel

torch.set_num_threads(1)
TINY = UDMConfig.small(embed_dim=16, encoder_width=8, synthesis_width=8, rate_hidden=8).to_dict()


def fresh_model(**overrides) -> UniversalDegradationModel:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return UniversalDegradationModel(**{**TINY, **overrides}).eval()


@pytest.fixture(scope="module")
def tuples():
    return synthetic_tuples("embedded:val", pairs=3, seed=0, pipeline="realistic", crop_size=40)


def test_synthetic_tuples_are_deterministic_and_carry_their_degradation(tuples):
    again = synthetic_tuples("embedded:val", pairs=3, seed=0, pipeline="realistic", crop_size=40)
    assert all(torch.equal(a.y_b, b.y_b) for a, b in zip(tuples, again))
    assert all(t.params is not None and t.x_a.shape == (1, 3, 40, 40) for t in tuples)
    other = synthetic_tuples("embedded:val", pairs=3, seed=1, pipeline="realistic", crop_size=40)
    assert not all(torch.equal(a.y_b, b.y_b) for a, b in zip(tuples, other))


def test_untrained_model_transfer_equals_the_identity_baseline(tuples):
    # a fresh synthesis network returns its input exactly (zero-initialised output), so transfer = x_b
    evaluation = evaluate_udm(fresh_model(), tuples, build_metrics(("psnr", "ssim")), seed=0)
    assert evaluation.means["transfer"]["psnr"] == pytest.approx(evaluation.means["identity"]["psnr"], abs=1e-4)
    assert evaluation.counts == {row: 3 for row in ("reproduction", "transfer", "mixed transfer", "wrong embedding", "identity",
                                                  "random degradation")}


def test_oracle_synthesiser_beats_both_baselines():
    # y_b is x_b under a fixed blur; a "model" that applies the same blur scores far above identity
    blur = params_from_dict("gaussian_blur", {"kernel_size": 9, "sigma_x": 2.0, "sigma_y": 2.0, "rotation": 0.0})
    params = PipelineParams([AppliedDegradation("gaussian_blur", blur)])
    from degplug.degradations.pipeline import apply_degradation_params

    generator = torch.Generator().manual_seed(0)
    x_a, x_b = torch.rand(1, 3, 32, 32, generator=generator), torch.rand(1, 3, 32, 32, generator=generator)
    case = EvaluationTuple(x_a, apply_degradation_params(x_a, params), x_b, apply_degradation_params(x_b, params), params)

    class Oracle(torch.nn.Module):
        config = UDMConfig.small()

        def encode(self, degraded):
            return fresh_model().encode(degraded)

        def synthesize(self, clean, embedding, seed=None):
            return apply_degradation_params(clean, params)

    evaluation = evaluate_udm(Oracle(), [case], build_metrics(("psnr", "ssim")), pipeline="noise25")
    assert evaluation.means["transfer"]["psnr"] > 60
    assert evaluation.means["transfer"]["ssim"] > evaluation.means["identity"]["ssim"]
    assert evaluation.means["transfer"]["ssim"] > evaluation.means["random degradation"]["ssim"]


def test_table_reports_missing_metrics_as_unavailable_and_json_round_trips(tuples, tmp_path):
    metrics = build_metrics(("ssim", "lpips"), weight_paths={"alexnet": str(tmp_path / "none.pth")})
    evaluation = evaluate_udm(fresh_model(), tuples[:1], metrics, rows=("transfer", "identity"))
    markdown = evaluation.to_markdown()
    assert "unavailable" in markdown and "paper: transfer" in markdown
    payload = json.loads(evaluation.to_json())
    assert "lpips" in payload["unavailable_metrics"] and "lpips" not in payload["rows"]["transfer"]


def test_split_homogeneous_keeps_order_and_separates_spatially_varying_ops(tuples):
    params = PipelineParams.from_json('{"pipeline": null, "steps": []}')
    homogeneous, inhomogeneous = split_homogeneous(params)
    assert homogeneous.steps == [] and inhomogeneous.steps == []
    for case in tuples:
        homogeneous, inhomogeneous = split_homogeneous(case.params)
        assert sorted(s.type for s in homogeneous.steps + inhomogeneous.steps) == sorted(case.params.types)
        assert [s.type for s in homogeneous.steps] == [t for t in case.params.types if t in {s.type for s in homogeneous.steps}]
        assert all(s.type in {"haze", "rain_streaks", "raindrops", "spatial_blur", "spatial_noise"} for s in inhomogeneous.steps)


def test_model_without_iden_still_gives_a_mixed_transfer_row(tuples):
    evaluation = evaluate_udm(fresh_model(map_channels=0), tuples[:1], build_metrics(("psnr",)), rows=("mixed transfer",))
    assert "mixed transfer" in evaluation.means


def test_paired_folder_tuples_use_the_next_pair_as_reference_and_skip_mixed_transfer(tmp_path):
    from degplug.data.image_io import write_image

    for index in range(3):
        clean = torch.rand(3, 24, 24, generator=torch.Generator().manual_seed(index))
        write_image(tmp_path / "gt" / f"{index}.png", clean)
        write_image(tmp_path / "lq" / f"{index}.png", (clean * 0.5))
    cases = paired_folder_tuples(tmp_path, crop_size=None)
    assert len(cases) == 3 and torch.equal(cases[0].x_b, cases[1].x_a)
    evaluation = evaluate_udm(fresh_model(), cases, build_metrics(("psnr",)))
    assert "mixed transfer" in evaluation.skipped_rows and "mixed transfer" not in evaluation.means
