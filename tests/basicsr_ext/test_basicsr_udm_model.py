"""BasicSR's UDMModel: the EMA copy follows the buffers too, and the rate models train at rate_lr."""

import importlib.util

import pytest
import torch

if importlib.util.find_spec("basicsr") is None:  # skip only when BasicSR is not installed; a broken one fails
    pytest.skip("BasicSR is not installed", allow_module_level=True)

from degplug.udm.config import UDMConfig  # noqa: E402

TINY = UDMConfig.small(embed_dim=16, encoder_width=8, synthesis_width=8, rate_hidden=8).to_dict()


pytestmark = pytest.mark.usefixtures("one_thread")  # one torch thread, tests/conftest.py


def make_model(ema_decay: float = 0.0, **udm):
    import basicsr_ext  # noqa: F401  (registers degplug's networks)
    from basicsr_ext.udm_model import UDMModel

    torch.manual_seed(0)
    opt = {
        "name": "udm_unit", "model_type": "UDMModel", "num_gpu": 0, "is_train": True, "dist": False,
        "rank": 0, "world_size": 1, "manual_seed": 0,
        "network_g": {"type": "UniversalDegradationModel", **TINY},
        "path": {"pretrain_network_g": None, "strict_load_g": True, "resume_state": None},
        "train": {
            "ema_decay": ema_decay,
            "udm": {"dists_pretrained": False, "queue_size": 8,
                    "weights": {"similarity": 0.0, "l1": 1.0, "gan": 0.0, "color": 0.0, "diversity": 0.0}, **udm},
            "optim_g": {"type": "Adam", "lr": 1e-4},
            "scheduler": {"type": "MultiStepLR", "milestones": [100], "gamma": 0.5},
            "total_iter": 100,
        },
    }
    return UDMModel(opt)


def batch(size: int = 24) -> dict:
    generator = torch.Generator().manual_seed(0)
    gt = torch.rand(2, 3, size, size, generator=generator)
    lq = (gt + 0.1 * torch.randn(gt.shape, generator=generator)).clamp(0, 1)
    return {"gt": gt, "lq": lq, "lq_pos": lq.flip(-1)}


def test_ema_copies_batchnorm_statistics_and_averages_parameters():
    model = make_model(ema_decay=0.9)
    ema, net = model.net_g_ema, model.udm
    running = [name for name, _ in net.named_buffers() if name.endswith("running_mean")]
    assert running, "the UDM has BatchNorm layers"
    params_before = {n: p.detach().clone() for n, p in ema.named_parameters()}
    model.feed_data(batch())
    model.optimize_parameters(1)
    net_buffers, ema_buffers = dict(net.named_buffers()), dict(ema.named_buffers())
    changed = [n for n in running if not torch.equal(net_buffers[n], torch.zeros_like(net_buffers[n]))]
    assert changed, "a training step updates the running statistics"
    for name, value in net_buffers.items():
        assert torch.equal(ema_buffers[name], value), name
    net_params = dict(net.named_parameters())
    for name, value in ema.named_parameters():
        expected = 0.9 * params_before[name] + 0.1 * net_params[name].detach()
        assert torch.allclose(value, expected, atol=1e-6), name


def test_generator_optimizer_trains_the_rate_models_at_rate_lr():
    model = make_model()
    groups = model.optimizer_g.param_groups
    assert [g["name"] for g in groups] == ["networks", "rate"]
    assert groups[0]["lr"] == 1e-4 and groups[1]["lr"] == 1e-3
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in model.udm.rate_parameters()}
    assert [g["lr"] for g in make_model(rate_lr=None).optimizer_g.param_groups] == [1e-4]


def test_no_critic_is_built_or_stepped_when_the_gan_weight_is_zero():
    model = make_model()
    assert model.net_d is None and len(model.optimizers) == 2
    model.feed_data(batch())
    model.optimize_parameters(1)
    assert not any(key.startswith("d_") for key in model.log_dict)
