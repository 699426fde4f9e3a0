"""Mixed precision through MMagic's UDMEditor and NDREditor (``training.amp``); the core's own checks are
tests/core/utils/test_mixed_precision.py."""

import importlib.util
import warnings

import pytest
import torch

from tests.helpers.mixed_precision import AMP_MODES, TINY_DEGRADER, TINY_RESTORER, train_until_every_group_stepped

pytestmark = [pytest.mark.usefixtures("one_thread"),
              pytest.mark.skipif(importlib.util.find_spec("mmagic") is None, reason="MMagic is not installed")]


@pytest.mark.parametrize("amp", AMP_MODES)
def test_mmagic_udm_editor_trains_with_training_amp(amp):
    from mmagic.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

    import mmagic_ext  # noqa: F401
    from tests.helpers.mmagic_udm import TINY_GENERATOR, tiny_batch

    editor = MODELS.build(dict(
        type="UDMEditor", generator=dict(TINY_GENERATOR), discriminator=dict(type="UDMDiscriminator", width=8),
        training=dict(dists_pretrained=False, queue_size=8, weights=dict(similarity=0.0, l1=1.0, gan=0.05), amp=amp),
    ))
    settings = dict(generator=dict(optimizer=dict(type="Adam", lr=1e-3, eps=1e-3), clip_grad=dict(max_norm=10.0)),
                    discriminator=dict(optimizer=dict(type="Adam", lr=1e-3)))
    optim = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(type="UDMOptimWrapperConstructor", optim_wrapper_cfg=settings))(editor)
    batch = tiny_batch()

    def iterate(iteration):
        log = editor.train_step(batch, optim)
        assert all(torch.isfinite(v) for v in log.values())

    iterations = train_until_every_group_stepped(iterate, editor.training_step.precision, editor.parameter_groups())
    assert iterations == 1 or amp == "fp16"


def test_mmagic_editors_refuse_an_amp_optim_wrapper_by_name(monkeypatch):
    from mmengine.optim import OptimWrapper, OptimWrapperDict
    from mmengine.optim.optimizer import amp_optimizer_wrapper

    from mmagic_ext.models.base_models.editor_base import refuse_amp_wrappers

    monkeypatch.setattr(amp_optimizer_wrapper, "is_cuda_available", lambda: True)  # built on a CPU-only machine
    parameter = torch.nn.Parameter(torch.zeros(1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.cuda.amp.GradScaler without CUDA
        amp_wrapper = amp_optimizer_wrapper.AmpOptimWrapper(dtype="bfloat16", optimizer=torch.optim.Adam([parameter]))
    plain = OptimWrapper(optimizer=torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))]))
    refuse_amp_wrappers(OptimWrapperDict(entropy=plain), "UDMEditor")
    with pytest.raises(ValueError, match=r"optim_wrapper\.generator: AmpOptimWrapper is not supported by UDMEditor.*amp='bf16'"):
        refuse_amp_wrappers(OptimWrapperDict(generator=amp_wrapper, entropy=plain), "UDMEditor")


@pytest.mark.parametrize("amp", AMP_MODES)
def test_mmagic_ndr_editor_trains_with_training_amp(amp):
    from mmagic.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
    from mmengine.dataset import pseudo_collate

    import mmagic_ext  # noqa: F401
    from mmagic_ext.datasets.degplug_datasets import DegplugAllInOneDataset

    editor = MODELS.build(dict(type="NDREditor", restorer=dict(type="NDRRestoreNet", seed=0, **TINY_RESTORER),
                               degrader=dict(type="NDRDegradNet", seed=1, **TINY_DEGRADER),
                               training=dict(schedule="alternate", amp=amp, channels_last=True)))
    config = dict(optimizer=dict(type="Adam", lr=1e-3))
    optim = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(type="NDROptimWrapperConstructor", optim_wrapper_cfg=config))(editor)
    dataset = DegplugAllInOneDataset(tasks=[dict(task="denoise", gt_folder="embedded:val")], crop_size=16, phase="val")
    batch = pseudo_collate([dataset[0], dataset[1]])

    def iterate(iteration):
        log = editor.train_step(batch, optim)
        assert all(torch.isfinite(v) for v in log.values())

    iterations = train_until_every_group_stepped(iterate, editor.training_step.precision, editor.parameter_groups())
    assert iterations == 1 or amp == "fp16"
