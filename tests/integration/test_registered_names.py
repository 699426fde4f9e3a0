"""One registered name per degplug class in both frameworks, so a config key means the same thing in each."""

import pytest
import torch
from torch import nn

from degplug.losses.wgan_gp import GradientPenaltyLoss
from tests.helpers.framework_registries import basicsr_registries

pytestmark = pytest.mark.integration


def _mmagic_models():
    pytest.importorskip("mmagic")
    import mmagic_ext  # noqa: F401  (registers degplug's modules)
    from mmagic.registry import MODELS

    return MODELS


class _LinearCritic(nn.Module):
    """f(x) = <w, x>: its gradient is w at every point, so the penalty is weight · (|w| − 1)²."""

    def __init__(self, shape: tuple[int, ...], norm: float) -> None:
        super().__init__()
        w = torch.ones(shape)
        self.w = nn.Parameter(w * norm / w.norm())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.w).flatten(1).sum(1)


def test_udm_gradient_penalty_name_resolves_to_degplugs_class_in_both_frameworks():
    basicsr_loss = basicsr_registries()["loss"]
    mmagic_models = _mmagic_models()

    assert basicsr_loss.get("UDMGradientPenaltyLoss") is GradientPenaltyLoss
    assert mmagic_models.get("UDMGradientPenaltyLoss") is GradientPenaltyLoss
    # BasicSR keeps the class's own name for existing option files; in MMagic that name is MMagic's own loss
    assert basicsr_loss.get("GradientPenaltyLoss") is GradientPenaltyLoss
    assert mmagic_models.get("GradientPenaltyLoss") is not GradientPenaltyLoss


def test_one_loss_config_builds_the_same_penalty_through_both_frameworks():
    basicsr_registries()
    from basicsr.losses import build_loss

    mmagic_models = _mmagic_models()
    config = {"type": "UDMGradientPenaltyLoss", "loss_weight": 2.0}
    from_basicsr, from_mmagic = build_loss(dict(config)), mmagic_models.build(dict(config))
    critic = _LinearCritic((3, 4, 4), norm=3.0)
    real, fake = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    expected = 2.0 * (3.0 - 1.0) ** 2
    for loss in (from_basicsr, from_mmagic):
        assert type(loss) is GradientPenaltyLoss
        assert loss(critic, real, fake).item() == pytest.approx(expected, rel=1e-4)


def test_every_loss_degplug_registers_in_both_frameworks_has_one_name():
    import basicsr_ext.registration as basicsr_table
    import mmagic_ext.registration as mmagic_table

    basicsr_loss = basicsr_registries()["loss"]
    mmagic_models = _mmagic_models()
    mmagic_losses = {name: cls for path in mmagic_table.REGISTERED["models"]
                     if path.startswith("degplug.losses.") for cls, name in [mmagic_table._load(path)]}
    basicsr_losses = {name: cls for path in basicsr_table.REGISTERED["loss"] for cls, name in [basicsr_table._load(path)]}
    assert set(mmagic_losses) <= set(basicsr_losses)
    for name, cls in mmagic_losses.items():
        assert basicsr_loss.get(name) is cls is mmagic_models.get(name), name
    # the only BasicSR name without an MMagic twin is the kept earlier name of the penalty
    assert set(basicsr_losses) - set(mmagic_losses) == {"GradientPenaltyLoss"}
