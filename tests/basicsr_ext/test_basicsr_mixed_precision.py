"""Mixed precision through BasicSR's UDMModel and NDRModel (``train.amp``); the core's own checks are
tests/core/utils/test_mixed_precision.py."""

import importlib.util
import math

import pytest
import torch

from tests.helpers.mixed_precision import AMP_MODES, TINY_UDM, train_until_every_group_stepped, udm_batch

pytestmark = [pytest.mark.usefixtures("one_thread"),
              pytest.mark.skipif(importlib.util.find_spec("basicsr") is None, reason="BasicSR is not installed")]


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


@pytest.mark.parametrize("amp", AMP_MODES)
def test_basicsr_udm_model_trains_with_train_amp(amp):
    model = _basicsr_udm(amp=amp, channels_last=True)
    assert model.training_step.precision.amp == amp and model.training_step.precision.channels_last
    batch = udm_batch(24)
    optimizers = {"g": model.optimizer_g, "aux": model.optimizer_aux, "d": model.optimizer_d}
    groups = {k: [p for g in o.param_groups for p in g["params"]] for k, o in optimizers.items()}

    def iterate(iteration):
        model.feed_data({"gt": batch["gt"], "lq": batch["lq"], "lq_pos": batch["lq"].flip(-1)})
        model.optimize_parameters(iteration)
        assert all(math.isfinite(v) for v in model.log_dict.values())

    iterations = train_until_every_group_stepped(iterate, model.training_step.precision, groups)
    assert iterations == 1 or amp == "fp16"


def test_basicsr_udm_amp_option_errors_name_the_key():
    with pytest.raises(ValueError, match=r"^train\.amp: expected one of 'none', 'bf16', 'fp16', got 'fp32'"):
        _basicsr_udm(amp="fp32")
    with pytest.raises(ValueError, match=r"train\.amp = 'bf16' and train\.udm\.amp = 'fp16' differ"):
        _basicsr_udm(amp="bf16", udm={"amp": "fp16"})


def test_basicsr_ndr_model_reads_train_amp_and_refuses_a_bad_value_by_name():
    from basicsr_ext.ndr_model import TRAIN_KEYS, NDRModel

    assert {"amp", "channels_last"} <= TRAIN_KEYS  # handed to NDRTrainingStep
    options = {"network_degrad": {"type": "NDRDegradNet"}, "train": {"ndr": {"schedule": "joint"}, "amp": "bf16"}}
    NDRModel.check_options(options)
    options["train"]["amp"] = "float8"
    with pytest.raises(ValueError, match=r"^train\.amp: expected one of 'none', 'bf16', 'fp16', got 'float8'"):
        NDRModel.check_options(options)
