"""Every shipped BasicSR options file and MMagic config loads and names only registered types."""

from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.helpers.framework_registries import basicsr_registries

SELF_CONTAINED = [  # embedded data only
    "train/UDM/train_UDM_demo_embedded.yml", "train/NDR/train_NDR_demo_embedded.yml",
    "train/SwinIR/train_SwinIR_allinone_demo_embedded.yml",
]
USER_DATA = [  # dataset paths the user fills in; udm.yml is the README's link to train_UDM_paper.yml
    "udm.yml", "train/UDM/train_UDM_paper.yml", "train/NDR/train_NDR_allinone3.yml", "train/NDR/train_NDR_allinone4.yml",
    "train/NDR/train_NDR_allinone5.yml", "train/Blind/train_Blind_SwinIR_DF2K.yml",
]
NDR_PROTOCOL = [  # datasets/allinone layout
    "train/NDR/train_NDR_allinone3.yml", "train/NDR/train_NDR_allinone4.yml", "train/NDR/train_NDR_allinone5.yml",
    "test/NDR/test_NDR_allinone3.yml",
]


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


def _protocol_layout(root: Path) -> None:
    """A tiny datasets/allinone tree with every data set's own folder and file names."""
    import torch

    from degplug.data.image_io import write_image

    image = torch.rand(3, 16, 16)
    folders = {
        "denoise": ["BSD400/1.png"], "derain": ["rainy/rain-1.png", "norain/norain-1.png"],
        "dehaze": ["hazy/0001_0.8_0.2.jpg", "gt/0001.png"], "deblur": ["GOPR0372_07_00/blur/1.png", "GOPR0372_07_00/sharp/1.png"],
        "lowlight": ["low/1.png", "high/1.png"],
    }
    for split in ("train", "test"):
        for task, files in folders.items():
            for name in files:
                write_image(root / split / task / name, image)
    (root / "train" / "dehaze" / "subset.txt").write_text("0001_0.8_0.2.jpg\n")


@pytest.mark.parametrize("name", NDR_PROTOCOL)
def test_ndr_protocol_options_pass_on_the_protocol_layout_and_name_eval_ndr_rows(name, tmp_path, monkeypatch):
    from basicsr_ext.options_check import check_options

    from degplug.data.all_in_one import AllInOneDataset

    _protocol_layout(tmp_path / "datasets" / "allinone")
    (tmp_path / "ndr.pth").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    options = check_options(REPO / "options" / name, registries=basicsr_registries())
    phases = options["datasets"]
    for phase, dataset in phases.items():
        built = AllInOneDataset(dataset["tasks"], crop_size=None, phase=dataset.get("phase", "train"))
        assert len(built) >= 1, phase
    test = phases.get("val") or phases["test_1"]
    rows = AllInOneDataset(test["tasks"], crop_size=None, phase="val").task_names
    sigmas = [25] if name.endswith("allinone5.yml") else [15, 25, 50]  # the 5-task benchmark scores σ 25 only
    assert rows[: len(sigmas) + 2] == [*(f"denoise σ{s}" for s in sigmas), "derain", "dehaze"]
    if "train" in phases:  # every protocol trains on the noise levels of the authors' training options
        (denoise,) = [task for task in phases["train"]["tasks"] if task["task"] == "denoise"]
        assert denoise["sigmas"] == [15, 25, 50] and denoise.get("repeat", 1) == 1
    assert ("sr ×2" in rows) == name.endswith("allinone4.yml")
    assert ("deblur" in rows and "lowlight" in rows) == name.endswith("allinone5.yml")


@pytest.mark.parametrize("name", sorted(p.relative_to(REPO / "configs").as_posix() for p in (REPO / "configs").rglob("*.py")
                                         if "_base_" not in p.parts))
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
