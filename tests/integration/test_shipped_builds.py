"""Every shipped options file and MMagic config builds what it names, so a misspelt key fails here.

BasicSR options (options/{train,test}/<Model>/*.yml): ``check_options`` (the model's own option checks), then each
``network_*`` through BasicSR's ``build_network``, each dataset through ``build_dataset``, each
``train.*_opt`` loss through ``build_loss``, each ``train.optim_*`` through ``BaseModel.get_optimizer``
and the scheduler through ``BaseModel.setup_schedulers`` (BasicSR's own code paths).
MMagic configs (configs/<model>/*.py): the model through ``MODELS.build``, the optimizers through
``build_optim_wrapper`` (the configs' constructors), the schedulers, the datasets, the hooks and the
evaluator metrics through their registries.

Paths the user fills in (datasets/..., checkpoints) are created in a temporary working directory
as tiny stand-ins laid out as the options expect; the networks are built at the shipped sizes.
"""

from __future__ import annotations

import copy
import types
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
# The README's short entry points (options/udm.yml, a link; configs/ndr.py, one _base_ line) are the
# files they name (tests/integration/test_config_twins.py), so each file is built once.
OPTIONS = sorted(p.relative_to(REPO / "options").as_posix() for p in (REPO / "options").glob("*/*/*.yml"))
CONFIGS = sorted(p.relative_to(REPO / "configs").as_posix() for p in (REPO / "configs").glob("*/*.py")
                 if p.parent.name != "_base_")

# Dataset folders per all-in-one task, in each data set's own layout (README, "Dataset preparation").
ALLINONE_FILES = {
    "denoise": ["BSD400/1.png"], "derain": ["rainy/rain-1.png", "norain/norain-1.png"],
    "dehaze": ["hazy/0001_0.8_0.2.jpg", "gt/0001.png"], "deblur": ["GOPR0372_07_00/blur/1.png", "GOPR0372_07_00/sharp/1.png"],
    "lowlight": ["low/1.png", "high/1.png"], "sr": ["1.png"],
}


def _image(path: Path, size: int = 64) -> None:
    from degplug.data.image_io import write_image

    write_image(path, torch.rand(3, size, size, generator=torch.Generator().manual_seed(len(str(path)))))


def _stand_in_folders(root: Path) -> None:
    """The folders the shipped files name, relative to ``root`` (the working directory)."""
    for split in ("train", "test"):
        for task, files in ALLINONE_FILES.items():
            if task == "sr":
                continue  # sr reads the denoise folder's clean images
            for name in files:
                _image(root / "datasets" / "allinone" / split / task / name)
    (root / "datasets" / "allinone" / "train" / "dehaze" / "subset.txt").write_text("0001_0.8_0.2.jpg\n")
    for folder in ("datasets/clean_train", "datasets/clean_val", "datasets/DF2K/HR"):
        _image(root / folder / "a.png", 272)
        _image(root / folder / "b.png", 272)
    for side in ("lq", "gt"):
        _image(root / "datasets" / "real_val" / side / "a.png", 64)


def _frozen_udm_and_pool(root: Path) -> tuple[Path, Path]:
    """A tiny trained-UDM stand-in and a latent pool of it (what `degplug pool` writes)."""
    from degplug.udm.config import UDMConfig
    from degplug.udm.latent_pool import LatentPool
    from degplug.udm.model import UniversalDegradationModel

    torch.manual_seed(0)
    udm = UniversalDegradationModel(**UDMConfig.small(embed_dim=16, encoder_width=8, synthesis_width=8, rate_hidden=8).to_dict())
    with torch.no_grad():
        embedding = udm.eval().encode(torch.rand(2, 3, 16, 16))
    pool = LatentPool(embedding.global_vector, list(embedding.local_map), ["a.png", "b.png"], udm.config.to_dict())
    udm_path, pool_path = root / "udm.pth", root / "pool.pth"
    udm.save_checkpoint(udm_path)
    pool.save(pool_path)
    return udm_path, pool_path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("shipped")
    _stand_in_folders(root)
    return root


# ------------------------------------------------------------------ BasicSR
def _basicsr():
    pytest.importorskip("basicsr_ext.compat")  # makes basicsr 1.4.2 importable on current torchvision
    pytest.importorskip("basicsr")
    import basicsr_ext  # noqa: F401  (registers degplug's modules)
    from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, MODEL_REGISTRY

    return {"arch": ARCH_REGISTRY, "model": MODEL_REGISTRY, "dataset": DATASET_REGISTRY, "loss": LOSS_REGISTRY}


def _place_options_paths(options: dict, root: Path) -> None:
    """Stand-ins for the checkpoints an options file reads (never loaded here, see below)."""
    for key, value in (options.get("path") or {}).items():
        if key.startswith("pretrain_network") and value:
            (root / value).parent.mkdir(parents=True, exist_ok=True)
            (root / value).write_bytes(b"")
    for key in ("udm", "pool"):
        value = (options.get("degplug") or {}).get(key)
        if value:
            (root / value).parent.mkdir(parents=True, exist_ok=True)
            (root / value).write_bytes(b"")


@pytest.mark.parametrize("name", OPTIONS)
def test_basicsr_options_build_their_networks_datasets_losses_optimizers_and_scheduler(name, workdir, monkeypatch):
    registries = _basicsr()
    from basicsr.archs import build_network
    from basicsr.data import build_dataset
    from basicsr.losses import build_loss
    from basicsr.models.base_model import BaseModel
    from basicsr.utils.options import ordered_yaml
    import yaml

    from basicsr_ext.options_check import check_options

    with open(REPO / "options" / name) as handle:
        options = yaml.load(handle, Loader=ordered_yaml()[0])
    _place_options_paths(options, workdir)
    monkeypatch.chdir(workdir)
    checked = check_options(REPO / "options" / name, registries=registries)
    assert checked["model_type"] in registries["model"]

    networks = {key: build_network(copy.deepcopy(block)) for key, block in options.items() if key.startswith("network_")}
    assert "network_g" in networks
    for key, network in networks.items():
        assert sum(p.numel() for p in network.parameters()) > 0, key

    for phase, block in options["datasets"].items():
        block = dict(block, phase=block.get("phase", phase.split("_")[0]))
        dataset = build_dataset(block)
        assert len(dataset) >= 1, f"{name}: datasets.{phase} is empty"

    train = options.get("train")
    if not train:
        assert name.startswith("test/"), f"{name}: only test options may come without a train block"
        return
    for key, block in train.items():
        if key.endswith("_opt"):
            assert isinstance(build_loss(copy.deepcopy(block)), torch.nn.Module), key
    optimizers = []
    for key, block in train.items():
        if key.startswith("optim_"):
            settings = dict(block)
            optim_type = settings.pop("type")
            optimizers.append(BaseModel.get_optimizer(None, optim_type, [torch.nn.Parameter(torch.zeros(1))], **settings))
    assert optimizers, f"{name}: no optimizer"
    model = types.SimpleNamespace(opt={"train": copy.deepcopy(dict(train))}, optimizers=optimizers, schedulers=[])
    BaseModel.setup_schedulers(model)
    assert len(model.schedulers) == len(optimizers)
    assert int(train["total_iter"]) > max(int(m) for m in train["scheduler"].get("milestones", [0])) or \
        "_demo_" in name, f"{name}: a milestone at or after the last iteration"


# ------------------------------------------------------------------- MMagic
def _mmagic():
    pytest.importorskip("mmagic")
    import mmagic_ext  # noqa: F401  (registers degplug's modules)
    from mmengine.registry import init_default_scope

    init_default_scope("mmagic")


@pytest.mark.parametrize("name", CONFIGS)
def test_mmagic_configs_build_their_model_optimizers_schedulers_datasets_hooks_and_metrics(name, workdir, monkeypatch):
    _mmagic()
    from mmagic.registry import DATASETS, HOOKS, METRICS, MODELS, PARAM_SCHEDULERS
    from mmengine.config import Config
    from mmengine.optim import OptimWrapperDict, build_optim_wrapper

    config = Config.fromfile(str(REPO / "configs" / name))
    monkeypatch.chdir(workdir)
    model_cfg = copy.deepcopy(config.model.to_dict())
    if model_cfg["type"] == "UDMEditor":
        # DISTS's pretrained VGG weights are not assumed offline; everything else is built as shipped
        model_cfg.setdefault("training", {})["dists_pretrained"] = False
    if model_cfg["type"] == "BlindRestorationEditor":
        model_cfg["udm"], model_cfg["pool"] = map(str, _frozen_udm_and_pool(workdir))
    model = MODELS.build(model_cfg)

    wrapper = build_optim_wrapper(model, copy.deepcopy(config.optim_wrapper.to_dict()))
    wrappers = list(wrapper.values()) if isinstance(wrapper, OptimWrapperDict) else [wrapper]
    assert wrappers
    schedulers = config.param_scheduler if isinstance(config.param_scheduler, list) else [config.param_scheduler]
    for optim_wrapper in wrappers:
        for scheduler in schedulers:
            PARAM_SCHEDULERS.build(dict(copy.deepcopy(scheduler.to_dict()), optimizer=optim_wrapper))

    for phase in ("train", "val", "test"):
        loader = config.get(f"{phase}_dataloader")
        if loader:
            dataset = DATASETS.build(copy.deepcopy(loader["dataset"].to_dict()))
            assert len(dataset) >= 1, f"{name}: {phase}_dataloader.dataset is empty"

    for hook in config.get("custom_hooks") or []:
        HOOKS.build(copy.deepcopy(hook.to_dict()))
    for key, hook in (config.get("default_hooks") or {}).items():
        HOOKS.build(copy.deepcopy(hook.to_dict()))
    for phase in ("val", "test"):
        evaluator = config.get(f"{phase}_evaluator")
        if evaluator:
            for metric in evaluator["metrics"]:
                METRICS.build(copy.deepcopy(metric.to_dict()))
