"""degplug's UDM classes are registered in MMagic under unique names."""

import pytest

pytest.importorskip("mmagic")


def test_every_table_entry_is_registered_as_that_class_and_not_an_mmagic_one():
    import mmagic_ext
    from mmagic_ext.registration import REGISTERED, _load, _registries

    registries = _registries()
    names_seen = set()
    for registry_name, paths in REGISTERED.items():
        for path in paths:
            cls, name = _load(path)
            assert registries[registry_name].module_dict[name] is cls
            assert (registry_name, name) not in names_seen
            names_seen.add((registry_name, name))
    mmagic_ext.register_all()  # idempotent


def test_mmagic_own_gradient_penalty_keeps_its_name_and_degplugs_gets_an_alias():
    import mmagic_ext  # noqa: F401
    from mmagic.registry import MODELS

    from degplug.losses.wgan_gp import GradientPenaltyLoss

    assert MODELS.get("GradientPenaltyLoss") is not GradientPenaltyLoss
    assert MODELS.get("UDMGradientPenaltyLoss") is GradientPenaltyLoss
    for name in ("UniversalDegradationModel", "UDMDiscriminator", "UDMEditor", "DISTSLoss", "ColorLoss",
                 "DiversityLoss", "ContrastiveLoss", "WGANGeneratorLoss", "WGANDiscriminatorLoss"):
        assert MODELS.get(name).__module__.startswith(("degplug.", "mmagic_ext."))


def test_the_data_preprocessor_old_name_builds_the_same_class_as_its_new_one():
    import torch

    import mmagic_ext  # noqa: F401
    from mmagic.registry import MODELS

    new = MODELS.build(dict(type="DegplugDataPreprocessor"))
    old = MODELS.build(dict(type="UDMDataPreprocessor"))
    assert type(new) is type(old) and type(new).__name__ == "DegplugDataPreprocessor"
    data = {"inputs": {"gt": [torch.rand(3, 4, 5), torch.rand(3, 4, 5)]}, "data_samples": None}
    assert torch.equal(new(data)["inputs"]["gt"], old(data)["inputs"]["gt"])
    assert new(data)["inputs"]["gt"].shape == (2, 3, 4, 5)


def test_a_clash_with_a_foreign_class_of_the_same_name_is_an_error(monkeypatch):
    import mmagic_ext.registration as registration

    monkeypatch.setitem(registration.REGISTERED, "models", ["degplug.losses.wgan_gp:GradientPenaltyLoss"])
    with pytest.raises(RuntimeError, match="GradientPenaltyLoss"):
        registration.register_all()


def test_dataset_with_a_missing_folder_fails_at_build_naming_it(tmp_path):
    import mmagic_ext  # noqa: F401
    from mmagic.registry import DATASETS

    missing = tmp_path / "no_such_photos"
    with pytest.raises(Exception, match="no_such_photos"):
        DATASETS.build(dict(type="DegplugTransferTupleDataset", gt_folder=str(missing)))
    with pytest.raises(KeyError, match="NoSuchDataset"):
        DATASETS.build(dict(type="NoSuchDataset"))
