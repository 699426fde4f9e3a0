"""NDREditor: each schedule phase steps exactly its groups; val_step gives MMagic DataSamples."""

import pytest
import torch

pytest.importorskip("mmagic")

TINY_RESTORER = dict(type="NDRRestoreNet", width=8, blocks=[1, 1, 1, 1], heads=[1, 1, 1, 1], refinement_blocks=1,
                     num_tokens=4, token_dim=8, degradation_channels=8, rank=2, seed=0)
TINY_DEGRADER = dict(type="NDRDegradNet", width=8, degradation_channels=8, rank=2, seed=1)


pytestmark = pytest.mark.usefixtures("one_thread")  # one torch thread, tests/conftest.py


def _editor(**training):
    from mmagic.registry import MODELS

    import mmagic_ext  # noqa: F401

    return MODELS.build(dict(type="NDREditor", restorer=dict(TINY_RESTORER), degrader=dict(TINY_DEGRADER),
                             training=training))


def _optimizers(editor, **settings):
    from mmagic.registry import OPTIM_WRAPPER_CONSTRUCTORS

    config = dict(optimizer=dict(type="Adam", lr=1e-3), **settings)
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(type="NDROptimWrapperConstructor", optim_wrapper_cfg=config))
    return constructor(editor)


def _batch(count=2, size=16, tasks=("denoise", "dehaze")):
    from mmengine.dataset import pseudo_collate

    from mmagic_ext.datasets.degplug_datasets import DegplugAllInOneDataset

    dataset = DegplugAllInOneDataset(tasks=[dict(task=t, gt_folder="embedded:val") for t in tasks],
                                     crop_size=size, phase="val")
    indices = [0, len(dataset) - 1][:count]
    return pseudo_collate([dataset[i] for i in indices])


def _snapshot(editor):
    return {name: [p.detach().clone() for p in params] for name, params in editor.parameter_groups().items()}


def _changed(editor, before):
    return {name: any(not torch.equal(old, new) for old, new in zip(before[name], params))
            for name, params in editor.parameter_groups().items()}


def test_constructor_gives_one_optimizer_per_group_holding_exactly_that_groups_parameters():
    editor = _editor()
    optim = _optimizers(editor, degradation=dict(optimizer=dict(lr=2e-3)))
    assert sorted(optim.keys()) == ["degradation", "representation", "restoration"]
    for name, params in editor.parameter_groups().items():
        held = optim[name].optimizer.param_groups[0]["params"]
        assert {id(p) for p in held} == {id(p) for p in params}
    assert optim["degradation"].optimizer.param_groups[0]["lr"] == 2e-3
    assert optim["restoration"].optimizer.param_groups[0]["lr"] == 1e-3
    with pytest.raises(ValueError, match="grad_clip"):
        _optimizers(editor, clip_grad=dict(max_norm=10))


def test_constructor_gives_the_alternate_schedule_a_degradation_phase_optimizer_for_the_representation():
    separate = _optimizers(_editor(schedule="alternate"), representation=dict(optimizer=dict(lr=3e-3)),
                           representation_degradation=dict(optimizer=dict(betas=(0.5, 0.9))))
    assert sorted(separate.keys()) == ["degradation", "representation", "representation_degradation", "restoration"]
    own, other = separate["representation_degradation"].optimizer, separate["representation"].optimizer
    assert own is not other
    assert [id(p) for p in own.param_groups[0]["params"]] == [id(p) for p in other.param_groups[0]["params"]]
    # the representation override first, then its own
    assert own.param_groups[0]["lr"] == 3e-3 and own.param_groups[0]["betas"] == (0.5, 0.9)
    assert other.param_groups[0]["betas"] == (0.9, 0.999)
    shared = _optimizers(_editor(schedule="alternate", optimizer_state="shared"))
    assert sorted(shared.keys()) == ["degradation", "representation", "restoration"]
    with pytest.raises(ValueError, match="optimizer_state"):
        _editor(schedule="alternate", optimizer_state="both")


def _warmed_editor(**training):
    """An editor after one joint step, so the zero-initialized injections pass gradients."""
    warm = _editor(schedule="joint")
    warm.train_step(_batch(), _optimizers(warm))
    editor = _editor(**training)
    editor.load_state_dict(warm.state_dict())
    return editor


def _record_steps(optim):
    """Wrap each optim wrapper's ``step`` to record which groups stepped, in order."""
    stepped = []
    for name in optim.keys():
        wrapper = optim[name]
        original = wrapper.step

        def step(*args, _name=name, _original=original, **kwargs):
            stepped.append(_name)
            return _original(*args, **kwargs)

        wrapper.step = step
    return stepped


def test_joint_train_step_updates_all_three_groups_once():
    editor = _warmed_editor(schedule="joint")
    optim = _optimizers(editor)
    stepped = _record_steps(optim)
    before = _snapshot(editor)
    log = editor.train_step(_batch(), optim)
    assert set(log) == {"loss", "loss_restoration", "loss_degradation"}
    assert torch.isfinite(log["loss"]) and float(log["loss"]) > 0
    assert sorted(stepped) == ["degradation", "representation", "restoration"]
    assert _changed(editor, before) == {"restoration": True, "representation": True, "degradation": True}


@pytest.mark.parametrize("detach, state, expected", [
    (False, "separate", ["degradation", "representation_degradation", "restoration", "representation"]),
    (False, "shared", ["degradation", "representation", "restoration", "representation"]),
    (True, "separate", ["degradation", "restoration", "representation"]),
])
def test_alternate_train_step_steps_exactly_the_groups_of_each_half_step(detach, state, expected):
    editor = _warmed_editor(schedule="alternate", detach_representation_in_degradation_phase=detach,
                            optimizer_state=state)
    optim = _optimizers(editor)
    assert sorted(optim.keys()) == sorted(set(expected))
    stepped = _record_steps(optim)
    before = _snapshot(editor)
    log = editor.train_step(_batch(), optim)
    assert set(log) == {"degradation_loss", "degradation_loss_degradation", "restoration_loss", "restoration_loss_restoration"}
    half = len(expected) - 2
    assert sorted(stepped[:half]) == sorted(expected[:half]) and sorted(stepped[half:]) == sorted(expected[half:])
    assert _changed(editor, before) == {"restoration": True, "representation": True, "degradation": True}


def test_alternate_train_step_matches_the_core_run_with_the_same_optimizers():
    from degplug.ndr.training import NDRTrainingStep

    editor = _warmed_editor(schedule="alternate")
    reference = _editor(schedule="alternate")
    reference.load_state_dict(editor.state_dict())
    batch = _batch()
    editor.train_step(batch, _optimizers(editor))
    stacked = {k: torch.stack(v) for k, v in batch["inputs"].items()}
    optim = _optimizers(reference)
    NDRTrainingStep(schedule="alternate").run(reference.restorer, reference.degrader, stacked["lq"], stacked["gt"],
                                              {name: optim[name].optimizer for name in optim.keys()}, grad_clip=10.0)
    for (name, mine), theirs in zip(editor.state_dict().items(), reference.state_dict().values()):
        assert torch.allclose(mine, theirs, atol=1e-6), name


def test_val_step_returns_restored_images_in_0_255_with_the_task_in_metainfo():
    from degplug.ndr.padding import restore_padded

    editor = _editor()
    batch = _batch(count=1, size=20, tasks=("dehaze",))  # 20 is not a multiple of 8: padded and cropped
    samples = editor.val_step(batch)
    assert len(samples) == 1
    sample = samples[0]
    lq, gt = batch["inputs"]["lq"][0], batch["inputs"]["gt"][0]
    expected = restore_padded(editor.restorer, lq.unsqueeze(0))[0] * 255
    assert sample.pred_img.shape == (3, 20, 20)
    assert torch.allclose(sample.pred_img, expected) and torch.equal(sample.output.pred_img, sample.pred_img)
    assert torch.allclose(sample.gt_img, gt * 255) and torch.allclose(sample.img, lq * 255)
    assert 0 <= float(sample.pred_img.min()) and float(sample.pred_img.max()) <= 255
    assert sample.metainfo["task"] == "dehaze"
    assert editor.restorer.training  # evaluation restores the training mode


def test_task_metric_reports_each_task_and_their_unweighted_average():
    from mmagic.registry import METRICS

    from degplug.eval.metrics import psnr

    metric = METRICS.build(dict(type="NDRTaskMetric"))
    gt = torch.rand(3, 16, 16) * 255
    close, far = (gt + 2.0).clamp(0, 255), (gt + 20.0).clamp(0, 255)
    samples = [dict(task="a", gt_img=gt, output=dict(pred_img=close)), dict(task="a", gt_img=gt, output=dict(pred_img=close)),
               dict(task="b", gt_img=gt, output=dict(pred_img=far))]
    metric.process([], samples)
    metric.size = 3  # what prepare() sets from the dataloader
    result = metric.evaluate()
    expected_a = float(psnr(close.unsqueeze(0) / 255, gt.unsqueeze(0) / 255))
    expected_b = float(psnr(far.unsqueeze(0) / 255, gt.unsqueeze(0) / 255))
    assert result["NDR/a/PSNR"] == pytest.approx(expected_a, rel=1e-5)
    assert result["NDR/Average/PSNR"] == pytest.approx((expected_a + expected_b) / 2, rel=1e-5)
    assert result["NDR/a/SSIM"] > result["NDR/b/SSIM"]
