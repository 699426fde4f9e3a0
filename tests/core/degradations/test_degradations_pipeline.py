"""The degradation pipeline: chain order, probabilities, determinism, JSON params, transfer to a second image."""

from __future__ import annotations

import json

import pytest
import torch

from degplug.degradations import DegradationPipeline, PipelineParams, get_preset, preset_names
from degplug.degradations.blur import GaussianBlur

from tests.helpers.degradation_images import high_frequency_energy, textured_image


def test_same_seed_gives_identical_output_and_different_seeds_differ():
    pipeline = DegradationPipeline.from_config("realistic")
    image = textured_image(48, 48)
    first, params_a = pipeline(image, seed=5)
    second, params_b = pipeline(image, seed=5)
    assert params_a.to_dict() == params_b.to_dict() and torch.equal(first, second)
    outputs = {pipeline(image, seed=s)[1].to_json() for s in range(6)}
    assert len(outputs) > 1


def test_params_round_trip_through_json_and_reapply_exactly():
    pipeline = DegradationPipeline.from_config("realistic")
    image = textured_image(40, 56)
    for seed in range(8):
        degraded, params = pipeline(image, seed=seed)
        restored = PipelineParams.from_json(json.dumps(json.loads(params.to_json())))
        assert restored.to_dict() == params.to_dict()
        assert torch.equal(DegradationPipeline.apply(image, restored), degraded)


def test_same_params_on_a_second_image_use_the_same_blur_kernel_and_noise_level():
    config = {"ops": [{"type": "gaussian_blur", "isotropic_prob": 0.0}, {"type": "gaussian_noise", "sigma": 20.0, "gray_prob": 0.0}]}
    pipeline = DegradationPipeline.from_config(config)
    params = pipeline.sample(seed=3)
    blur_params = params.steps[0].params
    # kernel recovered from both applications is the same: applying only the blur step to an impulse
    impulse_a, impulse_b = torch.zeros(3, 31, 31), torch.zeros(3, 41, 45)
    impulse_a[:, 15, 15] = 1.0
    impulse_b[:, 20, 22] = 1.0
    kernel = GaussianBlur.kernel(blur_params)
    half = kernel.shape[0] // 2
    response_a = GaussianBlur().apply(impulse_a, blur_params)[0, 15 - half : 15 + half + 1, 15 - half : 15 + half + 1]
    response_b = GaussianBlur().apply(impulse_b, blur_params)[0, 20 - half : 20 + half + 1, 22 - half : 22 + half + 1]
    assert torch.allclose(response_a, response_b, atol=1e-6)
    # noise: the same std measured on two flat images of different size and level
    flat_a, flat_b = torch.full((3, 96, 96), 0.4), torch.full((3, 80, 120), 0.6)
    noisy_a = DegradationPipeline.apply(flat_a, params) - flat_a
    noisy_b = DegradationPipeline.apply(flat_b, params) - flat_b
    assert noisy_a.std().item() == pytest.approx(20 / 255, rel=0.05)
    assert noisy_b.std().item() == pytest.approx(20 / 255, rel=0.05)


def test_fresh_noise_keeps_the_degradation_but_redraws_the_noise_field():
    pipeline = DegradationPipeline.from_config("noise25")
    image = torch.full((3, 64, 64), 0.5)
    params = pipeline.sample(seed=0)
    fresh = params.with_fresh_noise(torch.Generator().manual_seed(1))
    a, b = DegradationPipeline.apply(image, params), DegradationPipeline.apply(image, fresh)
    assert not torch.equal(a, b)
    assert (a - image).std().item() == pytest.approx((b - image).std().item(), rel=0.05)
    assert fresh.steps[0].params.sigma == params.steps[0].params.sigma


def test_chain_order_sorts_entries_by_imaging_stage_and_config_order_keeps_them():
    ops = [{"type": "jpeg"}, {"type": "gaussian_noise"}, {"type": "gaussian_blur"}, {"type": "haze"}]
    chain = DegradationPipeline.from_config({"ops": ops})
    assert chain.sample(seed=0).types == ["haze", "gaussian_blur", "gaussian_noise", "jpeg"]
    as_given = DegradationPipeline.from_config({"ops": ops, "order": "config"})
    assert as_given.sample(seed=0).types == ["jpeg", "gaussian_noise", "gaussian_blur", "haze"]


def test_probabilities_and_one_of_choose_operators_at_the_configured_rates():
    pipeline = DegradationPipeline.from_config(
        {"ops": [{"type": "jpeg", "prob": 0.3}, {"one_of": [{"type": "motion_blur"}, {"type": "defocus_blur"}], "weights": [0.8, 0.2]}]}
    )
    generator = torch.Generator().manual_seed(0)
    samples = [pipeline.sample(generator).types for _ in range(400)]
    jpeg_rate = sum("jpeg" in s for s in samples) / 400
    motion_rate = sum("motion_blur" in s for s in samples) / 400
    assert 0.22 < jpeg_rate < 0.38
    assert 0.72 < motion_rate < 0.88
    assert all(("motion_blur" in s) != ("defocus_blur" in s) for s in samples)


def test_resize_back_keeps_the_input_size_through_the_chain():
    pipeline = DegradationPipeline.from_config("allinone_sr_x4")
    image = textured_image(45, 61)
    degraded, params = pipeline(image, seed=0)
    assert degraded.shape == image.shape
    assert high_frequency_energy(degraded) < 0.5 * high_frequency_energy(image)
    assert params.types == ["resize", "resize_back"]


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_builds_and_runs_on_an_odd_sized_image(name):
    pipeline = DegradationPipeline.from_config(name)
    image = textured_image(33, 47)
    degraded, params = pipeline(image, seed=1)
    assert degraded.shape == image.shape
    assert 0 <= float(degraded.min()) and float(degraded.max()) <= 1
    assert params.pipeline == name


def test_batches_of_images_get_the_same_degradation():
    pipeline = DegradationPipeline.from_config("blur_fixed")
    image = textured_image(32, 32)
    batch, params = pipeline(torch.stack([image, image.flip(-1)]), seed=0)
    single = DegradationPipeline.apply(image, params)
    assert torch.allclose(batch[0], single, atol=1e-6)


def test_config_from_yaml_file(tmp_path):
    path = tmp_path / "chain.yml"
    path.write_text("name: mine\nops:\n  - {type: gaussian_noise, prob: 1.0, sigma: [1, 30]}\n  - {type: jpeg, quality: 50}\n")
    pipeline = DegradationPipeline.from_config(path)
    params = pipeline.sample(seed=0)
    assert params.types == ["gaussian_noise", "jpeg"] and params.pipeline == "mine"
    assert params.steps[1].params.quality == 50


def test_bad_configs_raise_value_errors_naming_the_problem(tmp_path):
    with pytest.raises(ValueError, match="blurr"):
        DegradationPipeline.from_config({"ops": [{"type": "blurr"}]})
    with pytest.raises(ValueError, match="qualty"):
        DegradationPipeline.from_config({"ops": [{"type": "jpeg", "qualty": 3}]})
    with pytest.raises(ValueError, match="prob"):
        DegradationPipeline.from_config({"ops": [{"type": "jpeg", "prob": 1.5}]})
    with pytest.raises(ValueError, match="opps"):
        DegradationPipeline.from_config({"opps": []})
    with pytest.raises(ValueError, match="not_a_preset"):
        DegradationPipeline.from_config("not_a_preset")
    with pytest.raises(ValueError, match="step 0"):
        PipelineParams.from_dict({"steps": [{"type": "jpeg"}]})
    with pytest.raises(ValueError, match="quality"):
        PipelineParams.from_dict({"steps": [{"type": "jpeg", "params": {}}]})


def test_apply_rejects_images_outside_the_unit_range():
    params = DegradationPipeline.from_config("noise25").sample(seed=0)
    with pytest.raises(ValueError, match="image"):
        DegradationPipeline.apply(torch.full((3, 8, 8), 255.0), params)


def test_get_preset_returns_an_independent_copy():
    config = get_preset("realistic")
    config["ops"].clear()
    assert get_preset("realistic")["ops"]
