"""NDRModel reads its training options under ``train.ndr`` (as UDMModel's ``train.udm`` and MMagic's
``model.training``); the flat keys of the earlier layout still work with a one-time warning, and a
key given both ways is refused by name."""

from __future__ import annotations

import warnings

import pytest
import yaml

from tests.helpers.basicsr_runs import NDR_DEMO_OPTIONS
from tests.helpers.framework_registries import basicsr_registries

pytest.importorskip("basicsr_ext.compat")
pytest.importorskip("basicsr")

NESTED = {"schedule": "alternate", "optimizer_state": "shared", "restoration_weight": 0.5,
          "degradation_weight": 2.0, "detach_representation_in_degradation_phase": True}

RESTORER = dict(width=8, blocks=[1, 1, 1, 1], heads=[1, 1, 1, 1], refinement_blocks=1, num_tokens=4, token_dim=8,
                degradation_channels=8, rank=2)
DEGRADER = dict(width=8, degradation_channels=8, rank=2)


@pytest.fixture
def ndr_model(monkeypatch):
    from basicsr_ext import ndr_model

    monkeypatch.setattr(ndr_model, "_warned_moved_keys", set())  # each test sees the first use of a flat key
    return ndr_model


def _opt(train: dict) -> dict:
    return {
        "name": "ndr_options", "model_type": "NDRModel", "num_gpu": 0, "is_train": True, "dist": False,
        "rank": 0, "world_size": 1, "manual_seed": 0,
        "network_g": {"type": "NDRRestoreNet", **RESTORER}, "network_degrad": {"type": "NDRDegradNet", **DEGRADER},
        "path": {"pretrain_network_g": None, "pretrain_network_degrad": None, "strict_load_g": True, "resume_state": None},
        "train": {**train, "grad_clip": 0.5, "optim_g": {"type": "Adam", "lr": 1e-3},
                  "scheduler": {"type": "MultiStepLR", "milestones": [100], "gamma": 0.5}, "total_iter": 100},
    }


def _step_settings(step) -> dict:
    return {"schedule": step.schedule, "optimizer_state": step.optimizer_state,
            "restoration_weight": step.restoration_weight, "degradation_weight": step.degradation_weight,
            "detach": step.detach_representation_in_degradation_phase, "amp": step.precision.amp,
            "channels_last": step.precision.channels_last, "optimizers": step.optimizer_keys}


def test_nested_and_flat_give_the_same_training_options_and_step(ndr_model):
    flat_train = {**NESTED, "amp": "bf16"}
    nested_train = {"ndr": dict(NESTED), "amp": "bf16"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the nested layout warns about nothing
        nested = ndr_model.training_options(nested_train)
    with pytest.warns(FutureWarning) as record:
        flat = ndr_model.training_options(flat_train)
    assert nested == flat == {**NESTED, "amp": "bf16"}
    messages = [str(w.message) for w in record]
    for key in NESTED:  # each moved key is named with its new place
        assert any(f"train.{key} is now train.ndr.{key}" in m for m in messages), key
    assert not any("train.amp" in m for m in messages)  # train.amp is a spelling of its own, as for UDM

    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        ndr_model.training_options(flat_train)
    assert [w for w in again if issubclass(w.category, FutureWarning)] == [], "the warning is given once per key"

    steps = []
    for train in (nested_train, flat_train):
        opt = _opt(train)
        ndr_model.NDRModel.check_options(opt)
        model = ndr_model.NDRModel(opt)
        steps.append(_step_settings(model.training_step))
        assert model.grad_clip == 0.5
    assert steps[0] == steps[1]
    assert steps[0] == {"schedule": "alternate", "optimizer_state": "shared", "restoration_weight": 0.5,
                        "degradation_weight": 2.0, "detach": True, "amp": "bf16", "channels_last": False,
                        "optimizers": ("restoration", "representation", "degradation")}


def test_a_key_given_both_ways_is_an_error_naming_it(ndr_model):
    with pytest.raises(ValueError, match=r"^train\.schedule and train\.ndr\.schedule are both given; keep train\.ndr\.schedule only$"):
        ndr_model.training_options({"schedule": "joint", "ndr": {"schedule": "joint"}})
    with pytest.raises(ValueError, match=r"^train\.amp = 'fp16' and train\.ndr\.amp = 'bf16' differ"):
        ndr_model.training_options({"amp": "fp16", "ndr": {"amp": "bf16"}})
    with pytest.raises(ValueError, match=r"train\.ndr: unknown option\(s\) \['schedul'\]"):
        ndr_model.training_options({"ndr": {"schedul": "joint"}})
    with pytest.raises(ValueError, match=r"train\.ndr\.schedule must be 'joint' or 'alternate', got 'both'"):
        ndr_model.NDRModel.check_options(_opt({"ndr": {"schedule": "both"}}))


def test_options_check_names_the_file_and_the_key_given_both_ways(tmp_path, ndr_model):
    from basicsr_ext.options_check import OptionsError, check_options

    options = yaml.safe_load(NDR_DEMO_OPTIONS.read_text())
    assert options["train"]["ndr"] == {"schedule": "joint"}  # the shipped layout
    check_options(NDR_DEMO_OPTIONS, registries=basicsr_registries())
    options["train"]["schedule"] = "alternate"
    path = tmp_path / "ndr.yml"
    path.write_text(yaml.safe_dump(options))
    with pytest.raises(OptionsError, match=rf"^{path}: train\.schedule and train\.ndr\.schedule are both given"):
        check_options(path, registries=basicsr_registries())
