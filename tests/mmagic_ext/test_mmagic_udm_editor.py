"""UDMEditor: one MMagic train step moves all three optimizers; val_step gives MMagic DataSamples."""

import pytest
import torch

pytest.importorskip("mmagic")

from tests.helpers.mmagic_udm import tiny_batch, tiny_editor


pytestmark = pytest.mark.usefixtures("one_thread")  # one torch thread, tests/conftest.py


def _optimizers(editor, with_critic=True):
    from mmagic.registry import OPTIM_WRAPPER_CONSTRUCTORS

    settings = dict(generator=dict(optimizer=dict(type="Adam", lr=1e-3, eps=1e-3)))
    if with_critic:
        settings["discriminator"] = dict(optimizer=dict(type="Adam", lr=1e-3))
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(type="UDMOptimWrapperConstructor", optim_wrapper_cfg=settings))
    return constructor(editor)


def test_train_step_updates_generator_entropy_and_discriminator_parameters():
    editor = tiny_editor(gan=0.05)
    optim = _optimizers(editor)
    assert sorted(optim.keys()) == ["discriminator", "entropy", "generator"]
    groups = editor.parameter_groups()
    before = {name: [p.detach().clone() for p in params] for name, params in groups.items()}
    log = editor.train_step(tiny_batch(), optim)
    assert torch.isfinite(log["l_total"]) and "d_l_critic" in log and "l_aux" in log
    for name, params in groups.items():
        changed = sum(not torch.equal(old, new) for old, new in zip(before[name], params))
        assert changed > 0, f"no {name} parameter changed"
    # The groups are those of UDMTrainingStep and are disjoint.
    ids = [id(p) for params in groups.values() for p in params]
    assert len(ids) == len(set(ids))
    assert {id(p) for p in optim["entropy"].optimizer.param_groups[0]["params"]} == {id(p) for p in groups["entropy"]}


def test_generator_optimizer_trains_the_rate_models_at_their_own_learning_rate():
    editor = tiny_editor(gan=0.0)
    groups = _optimizers(editor, with_critic=False)["generator"].optimizer.param_groups
    assert [(g["name"], g["lr"]) for g in groups] == [("networks", 1e-3), ("rate", 1e-3)]
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in editor.generator.rate_parameters()}
    assert {id(p) for g in groups for p in g["params"]} == {id(p) for p in editor.parameter_groups()["generator"]}
    from mmagic.registry import OPTIM_WRAPPER_CONSTRUCTORS

    settings = dict(generator=dict(optimizer=dict(type="Adam", lr=2e-4)))
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(type="UDMOptimWrapperConstructor", optim_wrapper_cfg=settings))
    assert [g["lr"] for g in constructor(editor)["generator"].optimizer.param_groups] == [2e-4, 1e-3]


def test_constructor_rejects_settings_for_a_group_the_model_does_not_have():
    editor = tiny_editor(gan=0.0)
    with pytest.raises(ValueError, match="discriminator"):
        _optimizers(editor, with_critic=True)
    assert sorted(_optimizers(editor, with_critic=False).keys()) == ["entropy", "generator"]


def test_val_step_returns_mmagic_data_samples_with_reproduction_and_transfer_in_0_255():
    editor = tiny_editor()
    batch = tiny_batch(count=2, size=24)
    samples = editor.val_step(batch)
    assert len(samples) == 2
    sample = samples[0]
    expected = editor.predict({k: torch.stack(v) for k, v in batch["inputs"].items()})
    assert torch.allclose(sample.pred_img, expected["output"][0] * 255)
    assert torch.equal(sample.output.pred_img, sample.pred_img)
    assert torch.allclose(sample.gt_img, batch["inputs"]["lq"][0] * 255)
    assert torch.allclose(sample.transfer_gt_img, batch["inputs"]["lq_b"][0] * 255)
    assert torch.allclose(sample.output.transfer_pred_img, expected["transfer"][0] * 255)
    assert sample.pred_img.shape == (3, 24, 24) and 0 <= float(sample.pred_img.min()) and float(sample.pred_img.max()) <= 255
    assert sample.metainfo["gt_path"] and sample.metainfo["gt_b_path"]
    # Evaluation noise is fixed: the same output twice.
    assert torch.equal(editor.val_step(batch)[0].pred_img, sample.pred_img)


def test_checkpoint_leaves_out_the_frozen_dists_network_and_still_loads():
    from mmagic.registry import MODELS

    from tests.helpers.mmagic_udm import TINY_GENERATOR

    config = dict(type="UDMEditor", generator=dict(TINY_GENERATOR),
                  training=dict(dists_pretrained=False, queue_size=8, weights=dict(similarity=1.0, gan=0.0)))
    editor = MODELS.build(config)
    state = editor.state_dict()
    assert not any(key.startswith("training_step.similarity.") for key in state)
    assert any(key.startswith("training_step.model.") for key in state)
    fresh = MODELS.build(config)
    fresh.load_state_dict(state, strict=True)
    for key, value in state.items():
        assert torch.equal(fresh.state_dict()[key], value)


def test_preprocessor_rejects_batches_of_mixed_sizes_naming_the_key():
    from mmagic_ext.models.data_preprocessors.data_preprocessor import DegplugDataPreprocessor

    data = {"inputs": {"gt": [torch.rand(3, 8, 8), torch.rand(3, 8, 9)]}, "data_samples": None}
    with pytest.raises(ValueError, match="'gt'"):
        DegplugDataPreprocessor()(data)
