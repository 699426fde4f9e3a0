"""Every shipped BasicSR options file and MMagic config loads and names only registered types."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SELF_CONTAINED = ["udm_demo.yml", "ndr_demo.yml", "swinir_allinone_demo.yml"]  # embedded data only
USER_DATA = ["udm.yml", "ndr.yml", "blind_swinir.yml"]  # dataset paths the user fills in


def basicsr_registries() -> dict:
    pytest.importorskip("basicsr")
    import basicsr_ext  # noqa: F401  (registers degplug's modules)
    from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, MODEL_REGISTRY

    return {"arch": ARCH_REGISTRY, "model": MODEL_REGISTRY, "dataset": DATASET_REGISTRY, "loss": LOSS_REGISTRY}


@pytest.mark.parametrize("name", SELF_CONTAINED)
def test_self_contained_options_pass_every_check(name):
    from basicsr_ext.options_check import check_options

    options = check_options(REPO / "options" / name, registries=basicsr_registries())
    assert options["num_gpu"] == 0


@pytest.mark.parametrize("name", USER_DATA)
def test_options_with_user_paths_fail_on_the_missing_path_naming_it(name, tmp_path, monkeypatch):
    from basicsr_ext.options_check import OptionsError, check_options

    monkeypatch.chdir(tmp_path)  # relative dataset paths resolve to nothing here
    with pytest.raises(OptionsError, match=r"datasets\.\w+\.(tasks\[\d+\]\.)?\w+ = .* does not exist"):
        check_options(REPO / "options" / name, registries=basicsr_registries())


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "configs").glob("*.py")))
def test_mmagic_configs_load_and_name_registered_models(name):
    pytest.importorskip("mmagic")
    import mmagic_ext  # noqa: F401
    from mmagic.registry import MODELS
    from mmengine.config import Config

    config = Config.fromfile(str(REPO / "configs" / name))
    assert config.custom_imports["imports"] == ["mmagic_ext"]
    assert MODELS.get(config.model["type"]) is not None, config.model["type"]
    arch = config.model.get("generator") or config.model.get("restorer")
    assert MODELS.get(arch["type"]) is not None, arch["type"]
