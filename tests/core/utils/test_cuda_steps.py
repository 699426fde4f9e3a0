"""On a CUDA device: mixed-precision UDM and NDR steps stay close to float32, fp16 loss scaling
steps every optimizer, channels_last changes nothing, and NDR-Restore gives the CPU's output.

Marked ``gpu`` (``pytest -m gpu``; benchmarks/gpu_check.py runs them) and skipped without CUDA.
``DEGPLUG_GPU_TEST_DEVICE=cpu`` runs them on the CPU instead, to check the tests themselves.
Tolerances are those of tests/core/utils/test_mixed_precision.py (measured on the CPU): 5e-2 relative
(plus 1e-3 absolute) to float32 for autocast, 1e-4 for a change of memory layout or device with
TF32 off.
"""

import os
import warnings

import pytest
import torch

from degplug.losses import UDMLossWeights
from degplug.ndr.degrad_net import NDRDegradNet
from degplug.ndr.restore_net import NDRRestoreNet
from degplug.ndr.training import NDRTrainingStep, make_optimizers, parameter_groups
from degplug.udm.config import UDMConfig
from degplug.udm.model import UniversalDegradationModel
from degplug.udm.training import UDMOptimizers, UDMTrainingOptions, UDMTrainingStep
from degplug.utils.random import make_generator

DEVICE = torch.device(os.environ.get("DEGPLUG_GPU_TEST_DEVICE", "cuda"))
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(DEVICE.type == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA device"),
]

RTOL, ATOL = 5e-2, 1e-3
INITIAL_SCALE = 65536.0  # GradScaler's
TINY_UDM = UDMConfig.small(embed_dim=16, encoder_width=8, synthesis_width=8, rate_hidden=8).to_dict()
TINY_RESTORER = dict(width=8, blocks=(1, 1, 1, 1), heads=(1, 1, 2, 2), refinement_blocks=1,
                     token_dim=16, degradation_channels=8, rank=4)
TINY_DEGRADER = dict(width=8, degradation_channels=8, rank=4)
AMP_MODES = ["bf16", "fp16"]


@pytest.fixture
def exact_float32():
    """TF32 off for cuDNN convolutions and matmuls, so float32 on the GPU is float32."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _close(value, reference) -> bool:
    value, reference = float(value), float(reference)
    return abs(value - reference) <= ATOL + RTOL * abs(reference)


def _udm_step(amp="none", channels_last=False) -> UDMTrainingStep:
    torch.manual_seed(0)
    model = UniversalDegradationModel(**TINY_UDM)
    options = UDMTrainingOptions(weights=UDMLossWeights(gan=0.05), dists_pretrained=False, queue_size=8,
                                 discriminator_width=8, amp=amp, channels_last=channels_last)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DISTS without pretrained weights
        return UDMTrainingStep(model, options).to(DEVICE)


def _udm_batch(size=32) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    gt, gt_b = (torch.rand(2, 3, size, size, generator=generator) for _ in range(2))
    noisy = [(x + 0.1 * torch.randn(x.shape, generator=generator)).clamp(0, 1) for x in (gt, gt_b)]
    return {key: value.to(DEVICE) for key, value in {"gt": gt, "lq": noisy[0], "gt_b": gt_b, "lq_b": noisy[1]}.items()}


def _udm_losses(step, batch):
    out = step.generator_losses(batch, make_generator(0, device=DEVICE))
    critic = step.discriminator_losses(batch, out["output"], make_generator(1, device=DEVICE))
    return out, critic


@pytest.mark.parametrize("amp", AMP_MODES)
def test_udm_amp_losses_on_the_device_are_finite_float32_and_close_to_float32(amp, exact_float32):
    batch = _udm_batch()
    reference, reference_critic = _udm_losses(_udm_step(), batch)
    out, critic = _udm_losses(_udm_step(amp), batch)
    terms = [key for key in reference if key.startswith("l_")]
    assert len(terms) == 8
    for key in terms + ["loss", "aux_loss"]:
        assert out[key].dtype == torch.float32 and torch.isfinite(out[key]), key
        assert _close(out[key], reference[key]), f"{key}: {float(out[key])} vs float32 {float(reference[key])}"
    for key in ("loss", "l_critic", "l_gradient_penalty"):
        assert torch.isfinite(critic[key]) and _close(critic[key], reference_critic[key]), key
    assert float(out["l_similarity"]) != float(reference["l_similarity"])  # autocast really ran


def test_udm_fp16_iterations_on_the_device_step_every_optimizer():
    """The core's iteration (UDMTrainingStep.step: loss scaling, unscaling, the scaler's steps):
    each optimizer's parameters change, and an iteration that leaves one unchanged is an overflow
    that lowered the scale."""
    step = _udm_step("fp16")
    precision = step.precision
    groups = step.parameter_groups()
    optimizers = UDMOptimizers(torch.optim.Adam(step.generator_param_groups(), lr=1e-3, eps=1e-3),
                               torch.optim.Adam(groups["aux"], lr=1e-3), torch.optim.Adam(groups["discriminator"], lr=1e-3))
    batch = _udm_batch()
    before = {name: [p.detach().clone() for p in params] for name, params in groups.items()}
    scale = INITIAL_SCALE
    for iteration in range(1, 9):
        log = step.step(batch, iteration, optimizers, rank=0)
        assert all(torch.isfinite(value) for value in log.values()), log
        changed = {name: any(not torch.equal(old, new) for old, new in zip(before[name], params))
                   for name, params in groups.items()}
        for params in groups.values():
            assert all(torch.isfinite(p).all() for p in params)
        if all(changed.values()):
            return
        assert precision.loss_scale() < scale, f"{[n for n, c in changed.items() if not c]} did not step, scale not lowered"
        scale = precision.loss_scale()
    raise AssertionError(f"after 8 iterations {[n for n, c in changed.items() if not c]} never stepped")


def _ndr_nets():
    return NDRRestoreNet(seed=0, **TINY_RESTORER).to(DEVICE), NDRDegradNet(seed=1, **TINY_DEGRADER).to(DEVICE)


def _ndr_batch(size=32):
    generator = torch.Generator().manual_seed(0)
    gt = torch.nn.functional.avg_pool2d(torch.rand(2, 3, size + 4, size + 4, generator=generator), 5, stride=1)
    return (0.6 * gt + 0.2).to(DEVICE), gt.to(DEVICE)


@pytest.mark.parametrize("amp", AMP_MODES)
def test_ndr_amp_iteration_on_the_device_is_close_to_float32_and_steps_every_group(amp, exact_float32):
    lq, gt = _ndr_batch()
    logs = {}
    for mode in ("none", amp):
        restorer, degrader = _ndr_nets()
        step = NDRTrainingStep("joint", amp=mode)
        optimizers = make_optimizers(restorer, degrader, step=step)
        groups = parameter_groups(restorer, degrader)
        before = {name: [p.detach().clone() for p in params] for name, params in groups.items()}
        logs[mode] = step.run(restorer, degrader, lq, gt, optimizers)
        overflowed = step.precision.loss_scale() < INITIAL_SCALE
        for name, params in groups.items():
            assert all(torch.isfinite(p).all() for p in params), name
            stepped = any(not torch.equal(old, new) for old, new in zip(before[name], params))
            assert stepped or (mode == "fp16" and overflowed), f"{name} did not step"
    for key, value in logs[amp].items():
        assert _close(value, logs["none"][key]), f"{key}: {value} vs float32 {logs['none'][key]}"


def test_channels_last_on_the_device_gives_the_contiguous_losses(exact_float32):
    lq, gt = _ndr_batch()
    reference = NDRTrainingStep("joint").compute_losses(*_ndr_nets(), lq, gt)
    restorer, degrader = _ndr_nets()
    out = NDRTrainingStep("joint", channels_last=True).compute_losses(restorer, degrader, lq, gt)
    for key, value in reference.items():
        assert torch.allclose(out[key], value, rtol=1e-4, atol=1e-5), key
    assert all(m.weight.is_contiguous(memory_format=torch.channels_last)
               for m in restorer.modules() if isinstance(m, torch.nn.Conv2d))
    batch = _udm_batch()
    udm_reference, _ = _udm_losses(_udm_step(), batch)
    udm_out, _ = _udm_losses(_udm_step(channels_last=True), batch)
    for key in [k for k in udm_reference if k.startswith("l_")] + ["loss"]:
        assert torch.allclose(udm_out[key], udm_reference[key], rtol=1e-4, atol=1e-5), key


def test_ndr_restore_on_the_device_gives_the_cpu_output(exact_float32):
    restorer = NDRRestoreNet(seed=0, **TINY_RESTORER).eval()
    lq = torch.rand(2, 3, 40, 48, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = restorer(lq)
        got = restorer.to(DEVICE)(lq.to(DEVICE)).cpu()
    assert got.shape == expected.shape
    assert (got - expected).abs().max() <= 1e-4
    assert (expected - lq).abs().mean() > 1e-3  # the network is not the identity: the comparison means something
