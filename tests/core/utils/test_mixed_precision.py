"""Mixed precision (``amp``: bf16 / fp16) and ``channels_last`` in the UDM and NDR training steps.

Tolerances were measured on these tiny networks (CPU, torch 2.13, 32² crops): the largest
relative gap of a UDM loss term to float32 was 1.5e-2 for bf16 (1.8e-2 with channels_last; the
similarity term) and 2.3e-3 for fp16; NDR's L1 losses 1e-3 (bf16) and 4e-4 (fp16). The tests
allow 5e-2 (plus 1e-3 absolute for terms near zero). channels_last changes the memory layout
only: float32 losses agree to 1e-5.
"""

import warnings

import pytest
import torch

from degplug.losses import UDMLossWeights
from degplug.ndr.degrad_net import NDRDegradNet
from degplug.ndr.restore_net import NDRRestoreNet
from degplug.ndr.training import NDROptimizerSettings, NDRTrainingStep, make_optimizers, parameter_groups
from degplug.udm.model import UniversalDegradationModel
from degplug.udm.training import UDMTrainingOptions, UDMTrainingStep
from degplug.utils.precision import MixedPrecision
from tests.helpers.mixed_precision import (
    AMP_MODES,
    TINY_DEGRADER,
    TINY_RESTORER,
    TINY_UDM,
    cpu_fp16_missing,
    udm_batch,
)

RTOL, ATOL = 5e-2, 1e-3
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
    batch = udm_batch()
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
    out = step.generator_losses(udm_batch(), torch.Generator().manual_seed(0))
    assert seen["hden"][1] == seen["iden"][1] == seen["synthesis.tail"][1] == torch.bfloat16
    for name in ("rate_g", "rate_g.head", "rate_l"):
        assert seen[name] == (torch.float32, torch.float32), name
    assert out["bits_g"].dtype == out["bpp_l"].dtype == torch.float32


def test_udm_channels_last_gives_the_contiguous_losses_and_formats_the_networks():
    batch = udm_batch()
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


@pytest.mark.skipif(cpu_fp16_missing() is not None, reason=str(cpu_fp16_missing()))
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
