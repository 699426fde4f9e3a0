"""Mixed precision (``amp``: bf16 / fp16) and ``channels_last`` in the UDM and NDR training steps.

Tolerances were measured on these tiny networks (CPU, torch 2.13, 32² crops): the largest
relative gap of a UDM loss term to float32 was 1.5e-2 for bf16 (1.8e-2 with channels_last; the
similarity term) and 2.3e-3 for fp16; NDR's L1 losses 1e-3 (bf16) and 4e-4 (fp16). The tests
allow 5e-2 (plus 1e-3 absolute for terms near zero). channels_last changes the memory layout
only: float32 losses agree to 1e-5.
"""

import importlib.util
import math
import warnings

import pytest
import torch

from degplug.losses import UDMLossWeights
from degplug.ndr.degrad_net import NDRDegradNet
from degplug.ndr.restore_net import NDRRestoreNet
from degplug.ndr.training import NDROptimizerSettings, NDRTrainingStep, make_optimizers, parameter_groups
from degplug.udm.config import UDMConfig
from degplug.udm.model import UniversalDegradationModel
from degplug.udm.training import UDMTrainingOptions, UDMTrainingStep
from degplug.utils.precision import MixedPrecision

RTOL, ATOL = 5e-2, 1e-3
TINY_UDM = UDMConfig.small(embed_dim=16, encoder_width=8, synthesis_width=8, rate_hidden=8).to_dict()
TINY_RESTORER = dict(width=8, blocks=(1, 1, 1, 1), heads=(1, 1, 2, 2), refinement_blocks=1,
                     token_dim=16, degradation_channels=8, rank=4)
TINY_DEGRADER = dict(width=8, degradation_channels=8, rank=4)


def _cpu_fp16_missing() -> str | None:
    """Why float16 autocast + GradScaler cannot run on this CPU build (None when they can)."""
    try:
        with torch.autocast("cpu", dtype=torch.float16):
            out = torch.nn.functional.conv2d(torch.rand(1, 2, 4, 4), torch.rand(2, 2, 3, 3))
        torch.amp.GradScaler("cpu")
    except (RuntimeError, ValueError, NotImplementedError) as error:
        return f"torch {torch.__version__} has no float16 autocast/GradScaler on the CPU ({error})"
    if out.dtype != torch.float16:
        return f"torch {torch.__version__}: CPU autocast does not run convolutions in float16"
    return None


AMP_MODES = ["bf16", pytest.param("fp16", marks=pytest.mark.skipif(_cpu_fp16_missing() is not None,
                                                                     reason=str(_cpu_fp16_missing())))]


pytestmark = pytest.mark.usefixtures("one_thread")  # one torch thread, tests/conftest.py


def _close(value, reference) -> bool:
    value, reference = float(value), float(reference)
    return abs(value - reference) <= ATOL + RTOL * abs(reference)


# --------------------------------------------------------------------------- UDM
def _udm_step(amp="none", channels_last=False) -> UDMTrainingStep:
    torch.manual_seed(0)
    model = UniversalDegradationModel(**TINY_UDM)
    options = UDMTrainingOptions(weights=UDMLossWeights(gan=0.05), dists_pretrained=False, queue_size=8,
                                 discriminator_width=8, amp=amp, channels_last=channels_last)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DISTS without pretrained weights
        return UDMTrainingStep(model, options)


def _udm_batch(size=32):
    generator = torch.Generator().manual_seed(0)
    gt, gt_b = torch.rand(2, 3, size, size, generator=generator), torch.rand(2, 3, size, size, generator=generator)
    noise = lambda x: (x + 0.1 * torch.randn(x.shape, generator=generator)).clamp(0, 1)  # noqa: E731
    return {"gt": gt, "lq": noise(gt), "gt_b": gt_b, "lq_b": noise(gt_b)}


def _udm_losses(step, batch):
    out = step.generator_losses(batch, torch.Generator().manual_seed(0))
    critic = step.discriminator_losses(batch, out["output"], torch.Generator().manual_seed(1))
    return out, critic


def test_amp_and_channels_last_values_are_validated_naming_the_option():
    with pytest.raises(ValueError, match=r"^amp: expected one of 'none', 'bf16', 'fp16', got 'fp8'"):
        UDMTrainingOptions(amp="fp8")
    with pytest.raises(ValueError, match="^amp: .*'float16'"):
        UDMTrainingOptions.from_dict({"amp": "float16"})
    with pytest.raises(ValueError, match="^channels_last: expected true or false, got 'yes'"):
        UDMTrainingOptions(channels_last="yes")
    with pytest.raises(ValueError, match="^amp: .*'half'"):
        NDRTrainingStep(amp="half")
    with pytest.raises(ValueError, match="^train.channels_last: "):
        MixedPrecision("bf16", 1, option_prefix="train.")
    assert UDMTrainingOptions(amp="BF16").amp == "bf16" and UDMTrainingOptions(amp=None).amp == "none"


@pytest.mark.parametrize("amp", AMP_MODES)
def test_udm_amp_losses_are_finite_float32_and_close_to_float32(amp):
    batch = _udm_batch()
    reference, reference_critic = _udm_losses(_udm_step(), batch)
    out, critic = _udm_losses(_udm_step(amp), batch)
    terms = [k for k in reference if k.startswith("l_")]
    assert len(terms) == 8
    for key in terms + ["loss", "aux_loss"]:
        assert out[key].dtype == torch.float32 and torch.isfinite(out[key]), key
        assert _close(out[key], reference[key]), f"{key}: {float(out[key])} vs float32 {float(reference[key])}"
    for key in ("loss", "l_critic", "l_gradient_penalty"):
        assert torch.isfinite(critic[key]) and _close(critic[key], reference_critic[key]), key
    # autocast really changed the computation (not a float32 run under another name)
    assert float(out["l_similarity"]) != float(reference["l_similarity"])


def test_udm_autocast_runs_the_networks_in_bf16_and_the_rate_models_in_float32():
    step = _udm_step("bf16")
    seen = {}

    def record(name):
        def hook(module, inputs, output):
            first = output[0] if isinstance(output, tuple) else output
            seen[name] = (inputs[0].dtype, first.dtype)
        return hook

    model = step.model
    for name, module in (("hden", model.hden), ("iden", model.iden.tail[-2]), ("rate_g", model.rate_g),
                         ("rate_g.head", model.rate_g.head), ("rate_l", model.rate_l), ("synthesis.tail", model.synthesis.tail)):
        module.register_forward_hook(record(name))
    out = step.generator_losses(_udm_batch(), torch.Generator().manual_seed(0))
    assert seen["hden"][1] == seen["iden"][1] == seen["synthesis.tail"][1] == torch.bfloat16
    for name in ("rate_g", "rate_g.head", "rate_l"):
        assert seen[name] == (torch.float32, torch.float32), name
    assert out["bits_g"].dtype == out["bpp_l"].dtype == torch.float32


def test_udm_channels_last_gives_the_contiguous_losses_and_formats_the_networks():
    batch = _udm_batch()
    reference, reference_critic = _udm_losses(_udm_step(), batch)
    step = _udm_step(channels_last=True)
    out, critic = _udm_losses(step, batch)
    for key in [k for k in reference if k.startswith("l_")] + ["loss"]:
        assert torch.allclose(out[key], reference[key], rtol=1e-5, atol=1e-6), key
    assert torch.allclose(critic["loss"], reference_critic["loss"], rtol=1e-5, atol=1e-6)
    convolutions = [m for m in step.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convolutions and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convolutions)


# --------------------------------------------------------------------------- NDR
def _ndr_nets():
    return NDRRestoreNet(seed=0, **TINY_RESTORER), NDRDegradNet(seed=1, **TINY_DEGRADER)


def _ndr_batch(size=32):
    generator = torch.Generator().manual_seed(0)
    gt = torch.nn.functional.avg_pool2d(torch.rand(2, 3, size + 4, size + 4, generator=generator), 5, stride=1)
    return 0.6 * gt + 0.2, gt


@pytest.mark.parametrize("schedule", ["joint", "alternate"])
@pytest.mark.parametrize("amp", AMP_MODES)
def test_ndr_amp_iteration_is_close_to_float32_and_updates_every_stepping_group(amp, schedule):
    lq, gt = _ndr_batch()
    logs = {}
    for mode in ("none", amp):
        restorer, degrader = _ndr_nets()
        step = NDRTrainingStep(schedule, amp=mode)
        optimizers = make_optimizers(restorer, degrader, NDROptimizerSettings(lr=1e-3), step)
        groups = parameter_groups(restorer, degrader)
        before = {name: [p.detach().clone() for p in params] for name, params in groups.items()}
        logs[mode] = step.run(restorer, degrader, lq, gt, optimizers)
        for name, params in groups.items():
            assert all(torch.isfinite(p).all() for p in params), name
            assert any(not torch.equal(old, new) for old, new in zip(before[name], params)), f"{name} did not step"
        if mode == "fp16":
            assert step.precision.loss_scale() == 65536.0  # no overflow on this task: every step was taken
    assert logs[amp].keys() == logs["none"].keys()
    for key, value in logs[amp].items():
        assert _close(value, logs["none"][key]), f"{key}: {value} vs float32 {logs['none'][key]}"


@pytest.mark.skipif(_cpu_fp16_missing() is not None, reason=str(_cpu_fp16_missing()))
def test_ndr_fp16_overflow_skips_the_step_and_halves_the_loss_scale():
    """A loss large enough that its scaled gradients overflow float16: GradScaler's contract."""
    restorer, degrader = _ndr_nets()
    step = NDRTrainingStep("joint", restoration_weight=1e6, amp="fp16")
    optimizers = make_optimizers(restorer, degrader, step=step)
    before = [p.detach().clone() for p in restorer.parameters()]
    logs = step.run(restorer, degrader, *_ndr_batch(), optimizers)
    assert all(torch.isfinite(torch.tensor(v)) for v in logs.values())
    assert all(torch.equal(old, new) for old, new in zip(before, restorer.parameters()))
    assert step.precision.loss_scale() == 32768.0


def test_ndr_channels_last_gives_the_contiguous_losses():
    lq, gt = _ndr_batch()
    restorer, degrader = _ndr_nets()
    reference = NDRTrainingStep("joint").compute_losses(restorer, degrader, lq, gt)
    restorer, degrader = _ndr_nets()
    out = NDRTrainingStep("joint", channels_last=True).compute_losses(restorer, degrader, lq, gt)
    for key, value in reference.items():
        assert torch.allclose(out[key], value, rtol=1e-5, atol=1e-6), key
    convolutions = [m for m in restorer.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convolutions)


# ---------------------------------------------------------------- framework adapters
needs_basicsr = pytest.mark.skipif(importlib.util.find_spec("basicsr") is None, reason="BasicSR is not installed")
needs_mmagic = pytest.mark.skipif(importlib.util.find_spec("mmagic") is None, reason="MMagic is not installed")


def _train_until_every_group_stepped(iterate, precision: MixedPrecision, groups: dict[str, list]) -> int:
    """Call ``iterate(i)`` until every group's parameters have changed; an iteration that leaves a
    group unchanged must be an fp16 overflow (GradScaler skipped the step and halved its scale).
    Returns the number of iterations."""
    before = {name: [p.detach().clone() for p in params] for name, params in groups.items()}
    scale = 65536.0  # GradScaler's initial scale
    for iteration in range(1, 9):
        iterate(iteration)
        for params in groups.values():
            assert all(torch.isfinite(p).all() for p in params)
        changed = {name: any(not torch.equal(old, new) for old, new in zip(before[name], params))
                   for name, params in groups.items()}
        if all(changed.values()):
            return iteration
        assert precision.scales_loss, f"no fp16 scaling, yet {[n for n, c in changed.items() if not c]} did not step"
        assert precision.loss_scale() < scale, "a step was skipped but the loss scale was not lowered"
        scale = precision.loss_scale()
    raise AssertionError(f"after 8 iterations {[n for n, c in changed.items() if not c]} never stepped")


def _basicsr_udm(**train):
    import basicsr_ext  # noqa: F401  (registers degplug's networks)
    from basicsr_ext.udm_model import UDMModel

    torch.manual_seed(0)
    opt = {
        "name": "udm_amp", "model_type": "UDMModel", "num_gpu": 0, "is_train": True, "dist": False,
        "rank": 0, "world_size": 1, "manual_seed": 0,
        "network_g": {"type": "UniversalDegradationModel", **TINY_UDM},
        "network_d": {"type": "UDMDiscriminator", "width": 8},
        "path": {"pretrain_network_g": None, "strict_load_g": True, "resume_state": None},
        "train": {
            "udm": {"dists_pretrained": False, "queue_size": 8,
                    "weights": {"similarity": 0.0, "l1": 1.0, "gan": 0.05}},
            "optim_g": {"type": "Adam", "lr": 1e-4}, "optim_d": {"type": "Adam", "lr": 1e-4},
            "scheduler": {"type": "MultiStepLR", "milestones": [100], "gamma": 0.5},
            "total_iter": 100, **train,
        },
    }
    UDMModel.check_options(opt)
    return UDMModel(opt)


@needs_basicsr
@pytest.mark.parametrize("amp", AMP_MODES)
def test_basicsr_udm_model_trains_with_train_amp(amp):
    model = _basicsr_udm(amp=amp, channels_last=True)
    assert model.training_step.precision.amp == amp and model.training_step.precision.channels_last
    batch = _udm_batch(24)
    optimizers = {"g": model.optimizer_g, "aux": model.optimizer_aux, "d": model.optimizer_d}
    groups = {k: [p for g in o.param_groups for p in g["params"]] for k, o in optimizers.items()}

    def iterate(iteration):
        model.feed_data({"gt": batch["gt"], "lq": batch["lq"], "lq_pos": batch["lq"].flip(-1)})
        model.optimize_parameters(iteration)
        assert all(math.isfinite(v) for v in model.log_dict.values())

    iterations = _train_until_every_group_stepped(iterate, model.training_step.precision, groups)
    assert iterations == 1 or amp == "fp16"


@needs_basicsr
def test_basicsr_udm_amp_option_errors_name_the_key():
    with pytest.raises(ValueError, match=r"^train\.amp: expected one of 'none', 'bf16', 'fp16', got 'fp32'"):
        _basicsr_udm(amp="fp32")
    with pytest.raises(ValueError, match=r"train\.amp = 'bf16' and train\.udm\.amp = 'fp16' differ"):
        _basicsr_udm(amp="bf16", udm={"amp": "fp16"})


@needs_basicsr
def test_basicsr_ndr_model_reads_train_amp_and_refuses_a_bad_value_by_name():
    from basicsr_ext.ndr_model import TRAIN_KEYS, NDRModel

    assert {"amp", "channels_last"} <= TRAIN_KEYS  # handed to NDRTrainingStep
    options = {"network_degrad": {"type": "NDRDegradNet"}, "train": {"ndr": {"schedule": "joint"}, "amp": "bf16"}}
    NDRModel.check_options(options)
    options["train"]["amp"] = "float8"
    with pytest.raises(ValueError, match=r"^train\.amp: expected one of 'none', 'bf16', 'fp16', got 'float8'"):
        NDRModel.check_options(options)


@needs_mmagic
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

    iterations = _train_until_every_group_stepped(iterate, editor.training_step.precision, editor.parameter_groups())
    assert iterations == 1 or amp == "fp16"


@needs_mmagic
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


@needs_mmagic
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

    iterations = _train_until_every_group_stepped(iterate, editor.training_step.precision, editor.parameter_groups())
    assert iterations == 1 or amp == "fp16"
