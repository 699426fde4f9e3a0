"""One UDM training step for every caller: BasicSR's UDMModel, MMagic's UDMEditor (real mmengine
OptimWrappers) and the plain core with torch optimizers end bit-identical after the same steps."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from degplug.data.transfer_tuples import TransferTupleDataset
from degplug.udm.config import UDMConfig
from degplug.udm.model import UniversalDegradationModel
from degplug.udm.training import UDMOptimizers, UDMTrainingOptions, UDMTrainingStep

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("one_thread")]

needs_basicsr = pytest.mark.skipif(importlib.util.find_spec("basicsr") is None, reason="BasicSR is not installed")
needs_mmagic = pytest.mark.skipif(importlib.util.find_spec("mmagic") is None, reason="MMagic is not installed")

TINY = UDMConfig.small(embed_dim=16, map_channels=2, encoder_width=8, synthesis_width=8, rate_hidden=8).to_dict()
CRITIC_WIDTH = 8
# Every generator term that has no pretrained network, and the critic (GAN weight > 0).
WEIGHTS = {"similarity": 0.0, "l1": 1.0, "color": 1.0, "diversity": 0.1, "gan": 0.05, "contrastive": 1e-3}
LR_G, LR_AUX, LR_D = 2e-3, 1e-3, 1e-3
SEED = 3  # not 0: the seed's share of the per-iteration seed formula is exercised too
STEPS = 3


def training_settings(amp: str) -> dict:
    return {"dists_pretrained": False, "queue_size": 8, "weights": dict(WEIGHTS), "amp": amp}


@pytest.fixture(scope="module")
def batches() -> list[dict[str, torch.Tensor]]:
    """STEPS different batches of two 32² transfer tuples (the contrastive positive is ``lq_b``)."""
    dataset = TransferTupleDataset(gt_folder="embedded:train", pipeline="homogeneous", crop_size=32, phase="val")
    result = []
    for step in range(STEPS):
        items = [dataset[2 * step + k] for k in range(2)]
        result.append({key: torch.stack([item[key] for item in items]) for key in ("gt", "lq", "gt_b", "lq_b")})
    return result


def initial_state() -> dict[str, torch.Tensor]:
    """The starting weights and buffers every path loads (so no path depends on its init order)."""
    torch.manual_seed(0)
    step = UDMTrainingStep(UniversalDegradationModel(**TINY),
                           UDMTrainingOptions.from_dict({**training_settings("none"), "discriminator_width": CRITIC_WIDTH}))
    return {key: value.detach().clone() for key, value in step.state_dict().items()}


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in module.state_dict().items()}


def train_core(state: dict, batches: list, amp: str) -> tuple[dict, dict]:
    torch.manual_seed(1)  # a different init on purpose: the loaded state must be all that matters
    options = UDMTrainingOptions.from_dict({**training_settings(amp), "discriminator_width": CRITIC_WIDTH})
    step = UDMTrainingStep(UniversalDegradationModel(**TINY), options)
    step.load_state_dict(state)
    groups = step.parameter_groups()
    optimizers = UDMOptimizers(
        torch.optim.Adam(step.generator_param_groups(), lr=LR_G),
        torch.optim.Adam(groups["aux"], lr=LR_AUX),
        torch.optim.Adam(groups["discriminator"], lr=LR_D),
    )
    for iteration, batch in enumerate(batches, start=1):
        log = step.step(batch, iteration, optimizers, seed=SEED)
    return snapshot(step), log


def train_basicsr(state: dict, batches: list, amp: str) -> tuple[dict, dict]:
    import basicsr_ext  # noqa: F401  (registers degplug's networks)
    from basicsr_ext.udm_model import UDMModel

    torch.manual_seed(2)
    opt = {
        "name": "udm_one_step", "model_type": "UDMModel", "num_gpu": 0, "is_train": True, "dist": False,
        "rank": 0, "world_size": 1, "manual_seed": SEED,
        "network_g": {"type": "UniversalDegradationModel", **TINY},
        "network_d": {"type": "UDMDiscriminator", "width": CRITIC_WIDTH},
        "path": {"pretrain_network_g": None, "strict_load_g": True, "resume_state": None},
        "train": {
            "udm": training_settings(amp),
            "optim_g": {"type": "Adam", "lr": LR_G}, "optim_aux": {"type": "Adam", "lr": LR_AUX},
            "optim_d": {"type": "Adam", "lr": LR_D},
            "scheduler": {"type": "MultiStepLR", "milestones": [100], "gamma": 0.5}, "total_iter": 100,
        },
    }
    UDMModel.check_options(opt)
    model = UDMModel(opt)
    model.training_step.load_state_dict(state)
    for iteration, batch in enumerate(batches, start=1):  # BasicSR's loop counts iterations from 1
        model.feed_data(batch)
        model.optimize_parameters(iteration)
    return snapshot(model.training_step), dict(model.log_dict)


def train_mmagic(state: dict, batches: list, amp: str) -> tuple[dict, dict]:
    from mmagic.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
    from mmengine.logging import MessageHub
    from mmengine.optim import OptimWrapper

    import mmagic_ext  # noqa: F401

    torch.manual_seed(3)
    editor = MODELS.build(dict(
        type="UDMEditor", generator=dict(type="UniversalDegradationModel", **TINY),
        discriminator=dict(type="UDMDiscriminator", width=CRITIC_WIDTH), training=training_settings(amp), seed=SEED,
    ))
    editor.training_step.load_state_dict(state)
    settings = {"generator": {"optimizer": {"type": "Adam", "lr": LR_G}},
                "entropy": {"optimizer": {"type": "Adam", "lr": LR_AUX}},
                "discriminator": {"optimizer": {"type": "Adam", "lr": LR_D}}}
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build({"type": "UDMOptimWrapperConstructor", "optim_wrapper_cfg": settings})
    wrappers = constructor(editor)
    assert all(type(wrappers[name]) is OptimWrapper for name in ("generator", "entropy", "discriminator"))
    hub = MessageHub.get_current_instance()
    previous = hub.get_info("iter")
    try:
        for index, batch in enumerate(batches):
            hub.update_info("iter", index)  # what mmengine's IterBasedTrainLoop sets (0-based) before train_step
            log = editor.train_step({"inputs": dict(batch), "data_samples": None}, wrappers)
    finally:
        hub.update_info("iter", previous)
    return snapshot(editor.training_step), log


def assert_identical(reference: dict, other: dict, what: str) -> None:
    assert reference.keys() == other.keys(), what
    different = [key for key in reference if not torch.equal(reference[key], other[key])]
    assert not different, f"{what}: {len(different)} entries differ from the plain core, e.g. {different[:5]}"


@needs_basicsr
@needs_mmagic
@pytest.mark.parametrize("amp", ["none", "bf16", "fp16"])
def test_basicsr_mmagic_and_the_plain_core_give_bit_identical_weights_after_three_steps(batches, amp):
    state = initial_state()
    core, core_log = train_core(state, batches, amp)
    basicsr, basicsr_log = train_basicsr(state, batches, amp)
    mmagic, mmagic_log = train_mmagic(state, batches, amp)

    # not a vacuous comparison: the generator, the entropy quantiles and the critic all moved
    moved = {key for key in state if state[key].is_floating_point() and not torch.equal(state[key], core[key])}
    for prefix in ("model.hden.", "model.synthesis.", "discriminator."):
        assert any(key.startswith(prefix) for key in moved), f"{prefix} did not change in {STEPS} steps"
    assert any("quantiles" in key for key in moved), "the entropy models' quantiles did not change"

    assert_identical(core, basicsr, "BasicSR UDMModel")
    assert_identical(core, mmagic, "MMagic UDMEditor")
    assert core_log.keys() == mmagic_log.keys() == basicsr_log.keys()
    assert {"l_total", "l_aux", "l_gan", "d_l_critic", "d_l_gradient_penalty"} <= core_log.keys()
    for key, value in core_log.items():
        assert torch.equal(value, mmagic_log[key]), key
        assert basicsr_log[key] == float(value), key  # BasicSR logs Python floats


def test_the_seed_and_the_iteration_reach_the_step(batches):
    """Another seed or iteration gives other weights: the formula is used, not a constant."""
    state = initial_state()

    def one_step(seed: int, iteration: int) -> dict:
        step = UDMTrainingStep(UniversalDegradationModel(**TINY),
                               UDMTrainingOptions.from_dict({**training_settings("none"), "discriminator_width": CRITIC_WIDTH}))
        step.load_state_dict(state)
        groups = step.parameter_groups()
        optimizers = UDMOptimizers(torch.optim.Adam(step.generator_param_groups(), lr=LR_G),
                                   torch.optim.Adam(groups["aux"], lr=LR_AUX), torch.optim.Adam(groups["discriminator"], lr=LR_D))
        step.step(batches[0], iteration, optimizers, seed=seed, rank=0)
        return snapshot(step)

    reference, again = one_step(SEED, 1), one_step(SEED, 1)
    assert all(torch.equal(value, again[key]) for key, value in reference.items())
    for other in (one_step(SEED + 1, 1), one_step(SEED, 2)):
        assert any(not torch.equal(value, other[key]) for key, value in reference.items())


def test_the_step_names_a_missing_critic_optimizer_and_a_wrong_optimizer_type():
    step = UDMTrainingStep(UniversalDegradationModel(**TINY),
                           UDMTrainingOptions.from_dict({**training_settings("none"), "discriminator_width": CRITIC_WIDTH}))
    groups = step.parameter_groups()
    without_critic = UDMOptimizers(torch.optim.Adam(groups["main"]), torch.optim.Adam(groups["aux"]))
    batch = {"gt": torch.rand(1, 3, 32, 32), "lq": torch.rand(1, 3, 32, 32)}
    with pytest.raises(ValueError, match=r"optimizers\.discriminator: the GAN weight is 0\.05"):
        step.step(batch, 1, without_critic)
    with pytest.raises(TypeError, match=r"optimizers\.entropy: expected a torch\.optim\.Optimizer or an optimizer wrapper"):
        UDMOptimizers(torch.optim.Adam(groups["main"]), groups["aux"])
