"""UDM ablations: the recipe read from a BasicSR options file, the switches, one short run end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from degplug.eval.ablation import (
    ABLATIONS,
    TrainingRecipe,
    ablation_table_markdown,
    build_variant,
    make_batches,
    recipe_from_options,
    run_ablations,
    train_variant,
)
from degplug.eval.evaluation_tuples import synthetic_tuples
from degplug.eval.fidelity import held_out_crops
from degplug.eval.metrics import build_metrics

ROOT = Path(__file__).resolve().parents[3]
SMALL_OPTIONS = ROOT / "options/train/UDM/train_UDM_small_embedded.yml"


def test_recipe_from_the_small_options_file_reads_every_setting():
    raw = yaml.safe_load(SMALL_OPTIONS.read_text())
    recipe = recipe_from_options(SMALL_OPTIONS)
    train, data = raw["train"], raw["datasets"]["train"]
    network = {k: v for k, v in raw["network_g"].items() if k != "type"}
    assert recipe.base_config == network
    assert recipe.iterations == train["total_iter"]
    assert recipe.milestones == tuple(train["scheduler"]["milestones"])
    assert recipe.gamma == train["scheduler"]["gamma"]
    assert recipe.lr == float(train["optim_g"]["lr"]) and recipe.eps == float(train["optim_g"]["eps"])
    assert recipe.lr_aux == float(train["optim_aux"]["lr"])
    assert (recipe.crop_size, recipe.degrade_size, recipe.batch_size) == (
        data["crop_size"], data["degrade_size"], data["batch_size_per_gpu"])
    assert recipe.pipeline == data["pipeline"] and recipe.data == data["gt_folder"]
    for key, value in train["udm"]["weights"].items():
        assert getattr(recipe.base_weights, key) == pytest.approx(float(value)), key
    assert recipe.options["transfer_weight"] == train["udm"]["transfer_weight"]
    assert recipe.queue_size == train["udm"]["queue_size"]


def test_shorter_runs_scale_the_schedule():
    recipe = recipe_from_options(SMALL_OPTIONS, iterations=1000)
    total = yaml.safe_load(SMALL_OPTIONS.read_text())["train"]["total_iter"]
    milestones = yaml.safe_load(SMALL_OPTIONS.read_text())["train"]["scheduler"]["milestones"]
    assert recipe.iterations == 1000
    assert recipe.milestones == tuple(round(m * 1000 / total) for m in milestones)


@pytest.mark.parametrize("edit, message", [
    (lambda o: o.update(model_type="NDRModel"), "expected 'UDMModel'"),
    (lambda o: o["train"].update(total_iter=0), "total_iter"),
    (lambda o: o["train"]["optim_g"].update(type="SGD"), "Adam only"),
    (lambda o: o["train"].update(scheduler={"type": "CosineAnnealingRestartLR"}), "MultiStepLR"),
    (lambda o: o["train"]["udm"].update(no_such_option=1), "no_such_option"),
    (lambda o: o["datasets"]["train"].pop("crop_size"), "crop_size is missing"),
])
def test_bad_options_files_are_named(tmp_path, edit, message):
    options = yaml.safe_load(SMALL_OPTIONS.read_text())
    edit(options)
    path = tmp_path / "udm.yml"
    path.write_text(yaml.safe_dump(options))
    with pytest.raises(ValueError, match=message):
        recipe_from_options(path)


def test_missing_options_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.yml"):
        recipe_from_options(tmp_path / "missing.yml")


def _tiny_recipe(**changes) -> TrainingRecipe:
    recipe = recipe_from_options(SMALL_OPTIONS, iterations=4)
    config = {**recipe.base_config, "embed_dim": 8, "encoder_width": 8, "synthesis_width": 8, "rate_hidden": 8}
    values = {"batch_size": 2, "crop_size": 32, "degrade_size": 48, "base_config": config, "queue_size": 4}
    values.update(changes)
    from dataclasses import replace

    return replace(recipe, **values)


def test_switches_change_only_their_key():
    recipe = _tiny_recipe()
    full = build_variant(ABLATIONS["full"], recipe)
    no_iden = build_variant(ABLATIONS["no_iden"], recipe)
    no_rate = build_variant(ABLATIONS["no_rate"], recipe)
    assert full.model.config.map_channels == recipe.base_config["map_channels"] > 0
    assert no_iden.model.config.map_channels == 0
    assert (no_rate.options.weights.rate_g, no_rate.options.weights.rate_l) == (0.0, 0.0)
    assert full.options.weights.rate_l == recipe.base_weights.rate_l > 0
    assert full.options.transfer_weight == recipe.options["transfer_weight"]
    # same seed, same initial weights wherever the architectures agree
    assert torch.equal(full.model.state_dict()[next(iter(full.model.state_dict()))],
                       no_rate.model.state_dict()[next(iter(no_rate.model.state_dict()))])


def test_the_schedule_steps_the_learning_rate():
    recipe = _tiny_recipe(milestones=(2,), gamma=0.5, iterations=3)
    step = build_variant(ABLATIONS["full"], recipe)
    seen = []
    original = step.step

    def recording(batch, iteration, optimizers, **kwargs):
        seen.append(optimizers.generator.param_groups[0]["lr"])
        return original(batch, iteration, optimizers, **kwargs)

    step.step = recording
    train_variant(step, make_batches(recipe), recipe)
    assert seen == pytest.approx([recipe.lr, recipe.lr, recipe.lr / 2])


def test_a_short_run_reports_pixel_metrics_and_the_gap_closed(tmp_path):
    recipe = _tiny_recipe()
    tuples = synthetic_tuples("embedded:val", pairs=2, seed=1, pipeline=recipe.pipeline, crop_size=32)
    images = held_out_crops("embedded:val", pairs=2, crop_size=32, seed=0)
    metrics = build_metrics(("psnr", "ssim"))
    results = run_ablations(["full", "no_iden"], recipe, tuples, metrics, save_dir=tmp_path, fidelity_images=images)
    assert [r.switch.name for r in results] == ["full", "no_iden"]
    for result in results:
        assert set(result.fidelity) >= {"transfer", "wrong embedding", "identity"}
        assert result.fidelity["identity"]["gap_closed_homogeneous"] == pytest.approx(0.0)
        assert result.training["seconds"] > 0
        assert (tmp_path / f"udm_{result.switch.name}.pth").is_file()
    table = ablation_table_markdown(results, metrics.unavailable)
    assert "gap closed by transfer" in table
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| ")}
    gap = results[1].fidelity["transfer"]
    assert f"{gap['gap_closed_homogeneous']:.2f} / {gap['gap_closed_inhomogeneous']:.2f}" in rows["no_iden"]
