"""Every BasicSR options file (options/{train,test}/<Model>/*.yml) and its MMagic twin
(configs/<model>/*.py) describe the same run.

Each concept (model arguments, loss weights, learning rates, schedule, batch, crops, degradation
pipeline, dataset options, seeds, training options) is one function that maps BOTH schemas onto a
common form, written out key by key below: BasicSR's ``network_g`` / ``train.optim_g`` /
``datasets.train.batch_size_per_gpu`` against MMagic's ``model.generator`` / ``optim_wrapper`` /
``train_dataloader.batch_size``. Missing keys are filled with the defaults of the class that reads
them (the core model config, the core dataset, the torch optimizer), so writing a default out on
one side only is no drift, while a different value is.
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest

pytest.importorskip("basicsr_ext.compat")  # makes basicsr 1.4.2 importable on current torchvision
pytest.importorskip("basicsr")
pytest.importorskip("mmagic")

import torch  # noqa: E402
import yaml  # noqa: E402
from basicsr.utils.options import ordered_yaml  # noqa: E402
from mmengine.config import Config  # noqa: E402

REPO = Path(__file__).resolve().parents[2]

# options/<path> -> (configs/<path>, model family); the pairs are written out, not derived from the names
TWINS = {
    "train/UDM/train_UDM_paper.yml": ("udm/udm_paper_1xb24-400k_clean-realistic.py", "udm"),
    "train/UDM/train_UDM_demo_embedded.yml": ("udm/udm_demo_1xb4-300iter_embedded.py", "udm"),
    "train/UDM/train_UDM_small_embedded.yml": ("udm/udm_small_1xb4-5k_embedded.py", "udm"),
    "train/NDR/train_NDR_allinone3.yml": ("ndr/ndr_paper_1xb4-1000k_allinone3.py", "ndr"),
    "train/NDR/train_NDR_allinone4.yml": ("ndr/ndr_paper_1xb4-1000k_allinone4.py", "ndr"),
    "train/NDR/train_NDR_allinone5.yml": ("ndr/ndr_paper_1xb4-1000k_allinone5.py", "ndr"),
    "train/NDR/train_NDR_demo_embedded.yml": ("ndr/ndr_demo_1xb4-300iter_embedded.py", "ndr"),
    "train/Blind/train_Blind_SwinIR_DF2K.yml": ("blind/blind_swinir_1xb8-500k_df2k.py", "blind"),
    "train/Blind/train_Blind_SwinIR_demo_embedded.yml": ("blind/blind_swinir-demo_1xb4-300iter_embedded.py", "blind"),
}
# The README's two short entry points: options/udm.yml is a relative symlink, configs/ndr.py a
# one-line config whose _base_ is the full file. No other aliases.
OPTIONS_ALIASES = {"udm.yml": "train/UDM/train_UDM_paper.yml"}
CONFIG_ALIASES = {"ndr.py": "ndr/ndr_paper_1xb4-1000k_allinone3.py"}
WITHOUT_TWIN = {
    "test/UDM/test_UDM_demo_embedded.yml": "`basicsr test` options; MMagic tests with the training config's test_dataloader "
                    "(`mim test mmagic configs/udm/udm_demo_1xb4-300iter_embedded.py --checkpoint ...`)",
    "test/NDR/test_NDR_allinone3.yml": "`basicsr test` options; MMagic tests with the training config's test_dataloader "
                    "(`mim test mmagic configs/ndr/ndr_paper_1xb4-1000k_allinone3.py --checkpoint ndr.pth`)",
    "train/SwinIR/train_SwinIR_allinone_demo_embedded.yml": "BasicSR's own SwinIR (SRModel) as the baseline of benchmarks/report_ndr_vs_swinir.py; "
                                "that comparison runs in BasicSR only",
}
# Dataset phases present on one side only, with the reason. Every other phase must exist on both.
ONE_SIDED_PHASES = {
    # MMagic's MultiValLoop/MultiTestLoop need a val/test dataloader; BasicSR trains without a val set.
    "train/UDM/train_UDM_small_embedded.yml": {"mmagic": {"val"}},
}
# Differences the two frameworks cannot express alike, asserted as they are so a change is seen.
# BasicSR's SRModel keeps an EMA of network_g (train.ema_decay); MMagic's BlindRestorationEditor has none.
BLIND_EMA_ONLY_IN_BASICSR = {"train/Blind/train_Blind_SwinIR_DF2K.yml": 0.999, "train/Blind/train_Blind_SwinIR_demo_embedded.yml": 0}
# The same restoration arch under each framework's registered name.
ARCH_TWINS = {"SwinIR": "SwinIRNet"}
NDR_DEMO = "train/NDR/train_NDR_demo_embedded.yml"


# ------------------------------------------------------------------ loading
def load_options(name: str) -> dict:
    with open(REPO / "options" / name) as handle:
        return yaml.load(handle, Loader=ordered_yaml()[0])


def load_config(name: str) -> dict:
    return Config.fromfile(str(REPO / "configs" / name)).to_dict()


def plain(value):
    """ConfigDict/OrderedDict/tuple → dict/list, so both schemas compare as plain data."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1:
        return int(value)  # BasicSR's `!!float 5e3` iteration counts
    return value


def with_defaults(call, values: dict, drop=("self", "type")) -> dict:
    """``values`` completed with the defaults of ``call``'s keyword parameters."""
    filled = {}
    for name, parameter in inspect.signature(call).parameters.items():
        if name in drop or parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
            continue
        if parameter.default is not parameter.empty:
            filled[name] = parameter.default
    filled.update({k: v for k, v in values.items() if k not in drop})
    return plain(filled)


def _registries():
    import basicsr_ext  # noqa: F401  (registers degplug in BasicSR)
    import mmagic_ext  # noqa: F401  (registers degplug in MMagic)
    from basicsr.utils.registry import ARCH_REGISTRY
    from mmagic.registry import MODELS

    return ARCH_REGISTRY, MODELS


def _udm_config(block: dict) -> dict:
    from degplug.udm.config import UDMConfig

    return UDMConfig.from_dict({k: v for k, v in block.items() if k != "type"}).to_dict()


def _udm_basicsr_training(opt: dict) -> dict:
    """BasicSR: ``train.udm`` plus the flat ``train.amp`` / ``train.channels_last``."""
    from degplug.udm.training import UDMTrainingOptions

    train = opt["train"]
    values = dict(train.get("udm") or {})
    values.update({k: train[k] for k in ("amp", "channels_last") if k in train})
    return plain(dataclasses.asdict(UDMTrainingOptions.from_dict(values)))


def _udm_mmagic_training(cfg: dict) -> dict:
    """MMagic: ``model.training``."""
    from degplug.udm.training import UDMTrainingOptions

    return plain(dataclasses.asdict(UDMTrainingOptions.from_dict(cfg["model"].get("training") or {})))


def _gan_on(opt: dict, cfg: dict) -> bool:
    return _udm_basicsr_training(opt)["weights"]["gan"] > 0 or _udm_mmagic_training(cfg)["weights"]["gan"] > 0


NDR_TRAINING_KEYS = ("schedule", "optimizer_state", "restoration_weight", "degradation_weight",
                     "detach_representation_in_degradation_phase", "amp", "channels_last")


def _ndr_basicsr_training(opt: dict) -> dict:
    """BasicSR nests NDR's training options under ``train.ndr`` (as MMagic's ``model.training``; the
    shipped files use no flat key of the earlier layout); ``train.amp`` / ``train.channels_last`` may
    also sit in ``train``; grad_clip, beside them, defaults to 10 (NDRModel)."""
    from degplug.ndr.training import NDRTrainingStep

    train = opt["train"]
    flat = sorted(k for k in NDR_TRAINING_KEYS if k in train and k not in ("amp", "channels_last"))
    assert not flat, f"{opt['name']}: train.{flat[0]} belongs under train.ndr"
    given = dict(train.get("ndr") or {})
    given.update({k: train[k] for k in ("amp", "channels_last") if k in train})
    values = with_defaults(NDRTrainingStep.__init__, given)
    values["grad_clip"] = plain(train.get("grad_clip", 10.0))
    return values


def _ndr_mmagic_training(cfg: dict) -> dict:
    """MMagic: ``model.training`` plus ``model.grad_clip`` (NDREditor's argument)."""
    from degplug.ndr.training import NDRTrainingStep
    from mmagic_ext.models.editors.ndr_editor import NDREditor

    model = cfg["model"]
    values = with_defaults(NDRTrainingStep.__init__, model.get("training") or {})
    values["grad_clip"] = plain(model.get("grad_clip", inspect.signature(NDREditor).parameters["grad_clip"].default))
    return values


# ----------------------------------------------------------------- concepts
def model_arguments(opt: dict, cfg: dict, family: str):
    """network_g (+ network_d / network_degrad) vs model.generator / restorer (+ discriminator / degrader)."""
    arch, models = _registries()
    model = cfg["model"]
    if family == "udm":
        basicsr = {"generator": _udm_config(opt["network_g"])}
        mmagic = {"generator": _udm_config(model["generator"])}
        if _gan_on(opt, cfg):  # the critic exists only with a GAN weight > 0 (UDMTrainingStep)
            for side, block in ((basicsr, opt.get("network_d")), (mmagic, model.get("discriminator"))):
                side["critic"] = None if block is None else {"type": block["type"], **with_defaults(arch.get(block["type"]), block)}
        return basicsr, mmagic
    if family == "ndr":
        pairs = (("restorer", opt["network_g"], model["restorer"]), ("degrader", opt["network_degrad"], model["degrader"]))
        basicsr = {key: {"type": b["type"], **with_defaults(arch.get(b["type"]), b)} for key, b, _ in pairs}
        mmagic = {key: {"type": m["type"], **with_defaults(models.get(m["type"]), m)} for key, _, m in pairs}
        return basicsr, mmagic
    generator = model["generator"]
    basicsr = {"type": ARCH_TWINS.get(opt["network_g"]["type"], opt["network_g"]["type"]),
               **with_defaults(arch.get(opt["network_g"]["type"]), opt["network_g"])}
    mmagic = {"type": generator["type"], **with_defaults(models.get(generator["type"]), generator)}
    return basicsr, mmagic


def loss_weights(opt: dict, cfg: dict, family: str):
    """train.udm.weights / train.*_weight / train.pixel_opt vs model.training.weights / model.pixel_loss."""
    if family == "udm":
        keys = ("weights", "transfer_weight", "diversity_c2")
        b, m = _udm_basicsr_training(opt), _udm_mmagic_training(cfg)
        return {k: b[k] for k in keys}, {k: m[k] for k in keys}
    if family == "ndr":
        keys = ("restoration_weight", "degradation_weight")
        b, m = _ndr_basicsr_training(opt), _ndr_mmagic_training(cfg)
        return {k: b[k] for k in keys}, {k: m[k] for k in keys}
    return plain(opt["train"]["pixel_opt"]), plain(cfg["model"]["pixel_loss"])


def _optimizer(settings: dict | None) -> dict | None:
    """An optimizer block with the torch class's defaults filled in (betas as a list)."""
    if settings is None:
        return None
    settings = dict(settings)
    cls = getattr(torch.optim, settings["type"])
    return {"type": settings["type"], **with_defaults(cls.__init__, settings, drop=("self", "type", "params"))}


def learning_rates(opt: dict, cfg: dict, family: str):
    """Every optimizer (type, lr, betas, eps, weight decay) and the UDM rate-model group's lr."""
    train, wrapper = opt["train"], cfg["optim_wrapper"]
    if family == "udm":
        from mmagic_ext.models.editors.udm_editor import DEFAULT_ENTROPY
        from basicsr_ext.udm_model import DEFAULT_AUX_OPTIMIZER

        assert wrapper["constructor"] == "UDMOptimWrapperConstructor"
        basicsr = {"generator": _optimizer(train["optim_g"]),
                   "entropy": _optimizer(train.get("optim_aux") or DEFAULT_AUX_OPTIMIZER),
                   "rate_lr": _udm_basicsr_training(opt)["rate_lr"]}
        mmagic = {"generator": _optimizer(wrapper["generator"]["optimizer"]),
                  "entropy": _optimizer((wrapper.get("entropy") or DEFAULT_ENTROPY)["optimizer"]),
                  "rate_lr": _udm_mmagic_training(cfg)["rate_lr"]}
        if _gan_on(opt, cfg):
            basicsr["discriminator"] = _optimizer(train.get("optim_d"))
            mmagic["discriminator"] = _optimizer((wrapper.get("discriminator") or {}).get("optimizer"))
        for name in ("generator", "entropy", "discriminator"):
            if name in wrapper:
                assert wrapper[name].get("type", "OptimWrapper") == "OptimWrapper", name
        return basicsr, mmagic
    if family == "ndr":
        assert wrapper["constructor"] == "NDROptimWrapperConstructor"
    assert wrapper.get("type", "OptimWrapper") == "OptimWrapper"
    return _optimizer(train["optim_g"]), _optimizer(wrapper["optimizer"])


def _basicsr_scheduler(block: dict) -> dict:
    if block["type"] in ("MultiStepLR", "MultiStepRestartLR"):
        assert not block.get("restarts"), "restarts have no MMagic twin here"
        return {"type": "MultiStepLR", "milestones": plain(block["milestones"]), "gamma": block.get("gamma", 0.1)}
    if block["type"] == "CosineAnnealingRestartLR":
        assert len(block["periods"]) == 1, "one cosine period only (mmengine's CosineAnnealingLR)"
        return {"type": "CosineAnnealingLR", "T_max": plain(block["periods"][0]), "eta_min": block.get("eta_min", 0)}
    raise AssertionError(f"no MMagic mapping written for BasicSR scheduler {block['type']}")


def _mmagic_scheduler(block: dict) -> dict:
    assert block.get("by_epoch") is False, "iteration-based schedules only (BasicSR counts iterations)"
    if block["type"] == "MultiStepLR":
        return {"type": "MultiStepLR", "milestones": plain(block["milestones"]), "gamma": block.get("gamma", 0.1)}
    if block["type"] == "CosineAnnealingLR":
        return {"type": "CosineAnnealingLR", "T_max": plain(block["T_max"]), "eta_min": block.get("eta_min", 0)}
    raise AssertionError(f"no BasicSR mapping written for MMagic scheduler {block['type']}")


def schedule(opt: dict, cfg: dict, family: str):
    """train.scheduler / total_iter / warmup_iter / val_freq / save_checkpoint_freq vs
    param_scheduler / train_cfg.max_iters / val_interval / the checkpoint hook's interval."""
    train = opt["train"]
    schedulers = cfg["param_scheduler"]
    assert isinstance(schedulers, dict), "one scheduler, no warm-up scheduler (BasicSR's warmup_iter is -1)"
    basicsr = {"scheduler": _basicsr_scheduler(train["scheduler"]), "total_iters": plain(train["total_iter"]),
               "warmup": plain(train.get("warmup_iter", -1)) > 0,
               "checkpoint_interval": plain(opt["logger"]["save_checkpoint_freq"])}
    mmagic = {"scheduler": _mmagic_scheduler(schedulers), "total_iters": cfg["train_cfg"]["max_iters"], "warmup": False,
              "checkpoint_interval": cfg["default_hooks"]["checkpoint"]["interval"]}
    assert cfg["train_cfg"]["type"] == "IterBasedTrainLoop"
    if "val" in opt["datasets"]:
        basicsr["val_interval"] = plain(opt["val"]["val_freq"])
        mmagic["val_interval"] = cfg["train_cfg"]["val_interval"]
    return basicsr, mmagic


def batch(opt: dict, cfg: dict, family: str):
    """datasets.train.batch_size_per_gpu / num_worker_per_gpu vs train_dataloader.batch_size / num_workers."""
    train = opt["datasets"]["train"]
    loader = cfg["train_dataloader"]
    assert loader["sampler"]["type"] == "InfiniteSampler" and loader["sampler"].get("shuffle", True)
    basicsr = {"batch_size": train["batch_size_per_gpu"], "num_workers": train["num_worker_per_gpu"]}
    mmagic = {"batch_size": loader["batch_size"], "num_workers": loader["num_workers"]}
    return basicsr, mmagic


# BasicSR's own keys in a datasets.<phase> block (no MMagic dataset argument); dataset_enlarge_ratio
# is folded into `repeat` below.
BASICSR_LOADER_KEYS = {"name", "batch_size_per_gpu", "num_worker_per_gpu", "dataset_enlarge_ratio", "prefetch_mode",
                       "pin_memory", "use_shuffle", "persistent_workers"}
PIPELINE_KEYS = ("pipeline", "tasks", "degrade_size", "degrade_on")


def _core_dataset(block: dict, phase: str) -> dict:
    """A dataset block as the core dataset's keyword arguments, defaults filled in."""
    from degplug.data import all_in_one, paired_folders, synthetic_pairs, transfer_tuples

    core = {"DegplugAllInOneDataset": all_in_one.AllInOneDataset, "DegplugPairedFolderDataset": paired_folders.PairedFolderDataset,
            "DegplugSyntheticPairDataset": synthetic_pairs.SyntheticPairDataset,
            "DegplugTransferTupleDataset": transfer_tuples.TransferTupleDataset}[block["type"]]
    values = with_defaults(core.__init__, {"phase": phase, **block})
    values["type"] = block["type"]
    return values


def _datasets(opt: dict, cfg: dict, name: str) -> tuple[dict, dict]:
    """{phase: core kwargs} of both sides over the phases both have (one-sided phases as listed)."""
    basicsr = {}
    for phase, block in opt["datasets"].items():
        kwargs = {k: v for k, v in block.items() if k not in BASICSR_LOADER_KEYS}
        enlarge = block.get("dataset_enlarge_ratio", 1) if phase == "train" else 1
        if block["type"] == "DegplugAllInOneDataset":  # per-task repeats only; no dataset-level twin
            assert enlarge == 1, f"options/{name}: dataset_enlarge_ratio has no MMagic twin for all-in-one sets"
        elif enlarge != 1:  # BasicSR's EnlargedSampler repeats the set, MMagic's dataset does it itself
            kwargs["repeat"] = block.get("repeat", 1) * enlarge
        basicsr[phase] = _core_dataset(kwargs, block.get("phase", phase))
    mmagic = {}
    for phase in ("train", "val"):
        loader = cfg.get(f"{phase}_dataloader")
        if loader:
            mmagic[phase] = _core_dataset(loader["dataset"], phase)
    if opt["datasets"].get("val") and "val" in mmagic:
        assert cfg["val_dataloader"]["batch_size"] == 1, "BasicSR validates one image at a time"
    expected = ONE_SIDED_PHASES.get(name, {})
    assert set(basicsr) - set(mmagic) == expected.get("basicsr", set()), name
    assert set(mmagic) - set(basicsr) == expected.get("mmagic", set()), name
    common = sorted(set(basicsr) & set(mmagic))
    return {p: basicsr[p] for p in common}, {p: mmagic[p] for p in common}


def crop_size(opt: dict, cfg: dict, family: str, name: str):
    """datasets.<phase>.crop_size vs <phase>_dataloader.dataset.crop_size."""
    b, m = _datasets(opt, cfg, name)
    return {p: v["crop_size"] for p, v in b.items()}, {p: v["crop_size"] for p, v in m.items()}


def degradation_pipeline(opt: dict, cfg: dict, family: str, name: str):
    """The degradation of each phase: pipeline (preset name, file or inline ops), all-in-one tasks,
    degrade_size, degrade_on."""
    b, m = _datasets(opt, cfg, name)
    pick = lambda sets: {p: {k: v[k] for k in PIPELINE_KEYS if k in v} for p, v in sets.items()}  # noqa: E731
    return pick(b), pick(m)


def dataset_options(opt: dict, cfg: dict, family: str, name: str):
    """Every other core dataset argument both sides pass (type, folders, flips, repeat, seed, phase, ...)."""
    b, m = _datasets(opt, cfg, name)
    skip = set(PIPELINE_KEYS) | {"crop_size"}
    pick = lambda sets: {p: {k: v for k, v in d.items() if k not in skip} for p, d in sets.items()}  # noqa: E731
    return pick(b), pick(m)


def seeds(opt: dict, cfg: dict, family: str):
    """manual_seed (BasicSR seeds the initialisation and the iterations with it) vs mmengine's
    randomness.seed and the editor's per-iteration seed."""
    basicsr = {"initialisation": opt["manual_seed"]}
    mmagic = {"initialisation": (cfg.get("randomness") or {}).get("seed")}
    if family in ("udm", "blind"):
        basicsr["iterations"] = opt["manual_seed"]
        mmagic["iterations"] = cfg["model"].get("seed", 0)
    return basicsr, mmagic


def training_options(opt: dict, cfg: dict, family: str):
    """The rest of the model's training settings: UDM's MoCo, DISTS, warm-up, precision; NDR's
    schedule, optimizer state, gradient clipping, precision."""
    if family == "udm":
        skip = {"weights", "transfer_weight", "diversity_c2", "rate_lr"}
        b, m = _udm_basicsr_training(opt), _udm_mmagic_training(cfg)
        return {k: v for k, v in b.items() if k not in skip}, {k: v for k, v in m.items() if k not in skip}
    if family == "ndr":
        skip = {"restoration_weight", "degradation_weight"}
        b, m = _ndr_basicsr_training(opt), _ndr_mmagic_training(cfg)
        return {k: v for k, v in b.items() if k not in skip}, {k: v for k, v in m.items() if k not in skip}
    # blind: the frozen UDM and the degradation source
    block, model = opt["degplug"], cfg["model"]
    keys = ("udm", "pool", "reference_folder")
    return {k: block.get(k) for k in keys}, {k: model.get(k) for k in keys}


MODEL_CONCEPTS = [model_arguments, loss_weights, learning_rates, schedule, batch, seeds, training_options]
DATA_CONCEPTS = [crop_size, degradation_pipeline, dataset_options]


# -------------------------------------------------------------------- tests
def _relative(folder: str, pattern: str) -> set[str]:
    root = REPO / folder
    return {p.relative_to(root).as_posix() for p in root.rglob(pattern) if "_base_" not in p.parts}


def test_every_options_file_is_paired_or_listed_without_twin_and_every_config_has_one():
    options, configs = _relative("options", "*.yml"), _relative("configs", "*.py")
    assert options == set(TWINS) | set(WITHOUT_TWIN) | set(OPTIONS_ALIASES), "add the new options file to TWINS or WITHOUT_TWIN"
    assert not set(TWINS) & set(WITHOUT_TWIN)
    assert configs == {config for config, _ in TWINS.values()} | set(CONFIG_ALIASES), \
        "every MMagic config needs its BasicSR twin in TWINS"


def test_names_follow_the_frameworks_conventions():
    """BasicSR: options/{train,test}/<Model>/{train,test}_<Model>_<setting>.yml; MMagic:
    configs/<model>/<model>_<setting>_<gpus>xb<batch>-<iterations>_<data>.py."""
    import re

    for name in set(TWINS) | set(WITHOUT_TWIN):
        assert re.fullmatch(r"(train|test)/(\w+)/\1_\2_\w+\.yml", name), name
    for name, family in TWINS.values():
        assert re.fullmatch(rf"{family}/{family}_[\w-]+_\d+xb\d+-\d+(k|iter)_[\w-]+\.py", name), name
    for name, (config, family) in TWINS.items():  # the batch in the MMagic name is the one both files train with
        per_gpu = load_options(name)["datasets"]["train"]["batch_size_per_gpu"]
        assert f"xb{per_gpu}-" in config and load_config(config)["train_dataloader"]["batch_size"] == per_gpu, config


def test_the_short_entry_points_are_the_full_files():
    """`basicsr train -opt options/udm.yml` and `mim train mmagic configs/ndr.py` (README) run the full files."""
    for alias, target in OPTIONS_ALIASES.items():
        path = REPO / "options" / alias
        assert path.is_symlink() and not Path(path.readlink()).is_absolute(), alias  # git keeps a relative link
        assert path.resolve() == (REPO / "options" / target).resolve()
        assert load_options(alias) == load_options(target)
    for alias, target in CONFIG_ALIASES.items():
        assert (REPO / "configs" / alias).read_text().count("\n") <= 2, "an alias is one _base_ line"
        assert load_config(alias) == load_config(target)


@pytest.mark.parametrize("concept", MODEL_CONCEPTS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", sorted(TWINS))
def test_twins_agree(name, concept):
    config, family = TWINS[name]
    basicsr, mmagic = concept(load_options(name), load_config(config), family)
    assert basicsr == mmagic, f"options/{name} vs configs/{config}: {concept.__name__} differ"


@pytest.mark.parametrize("concept", DATA_CONCEPTS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", sorted(TWINS))
def test_twins_read_the_same_data(name, concept):
    config, family = TWINS[name]
    basicsr, mmagic = concept(load_options(name), load_config(config), family, name)
    assert basicsr, f"options/{name}: no dataset phase in common with configs/{config}"
    assert basicsr == mmagic, f"options/{name} vs configs/{config}: {concept.__name__} differ"


@pytest.mark.parametrize("name", sorted(BLIND_EMA_ONLY_IN_BASICSR))
def test_blind_ema_is_the_one_listed_difference(name):
    config, _ = TWINS[name]
    assert load_options(name)["train"]["ema_decay"] == BLIND_EMA_ONLY_IN_BASICSR[name]
    hooks = load_config(config).get("custom_hooks") or []
    assert not any("EMA" in hook["type"] or "MovingAverage" in hook["type"] for hook in hooks)


def test_the_mappings_see_a_changed_value():
    """A drift planted on one side is reported by the concept that owns the key."""
    opt, cfg = load_options("train/UDM/train_UDM_demo_embedded.yml"), load_config("udm/udm_demo_1xb4-300iter_embedded.py")
    cfg["optim_wrapper"]["entropy"]["optimizer"]["lr"] = 5e-4
    basicsr, mmagic = learning_rates(opt, cfg, "udm")
    assert basicsr["entropy"]["lr"] == 1e-3 and mmagic["entropy"]["lr"] == 5e-4
    opt["datasets"]["train"]["dataset_enlarge_ratio"] = 10
    basicsr, mmagic = dataset_options(opt, cfg, "udm", "train/UDM/train_UDM_demo_embedded.yml")
    assert (basicsr["train"]["repeat"], mmagic["train"]["repeat"]) == (10, 50)
    opt["train"]["udm"]["weights"]["contrastive"] = 0.5
    basicsr, mmagic = loss_weights(opt, cfg, "udm")
    assert basicsr["weights"]["contrastive"] == 0.5 != mmagic["weights"]["contrastive"]
    ndr_opt, ndr_cfg = load_options(NDR_DEMO), load_config(TWINS[NDR_DEMO][0])
    ndr_cfg["model"]["restorer"]["rank"] = 8
    basicsr, mmagic = model_arguments(ndr_opt, ndr_cfg, "ndr")
    assert (basicsr["restorer"]["rank"], mmagic["restorer"]["rank"]) == (4, 8)
    ndr_cfg["param_scheduler"]["milestones"] = [200]
    basicsr, mmagic = schedule(ndr_opt, ndr_cfg, "ndr")
    assert basicsr["scheduler"]["milestones"] == [100000] and mmagic["scheduler"]["milestones"] == [200]
    # a default written out on one side only is no drift
    ndr_opt["network_g"]["ffn_expansion"] = inspect.signature(
        __import__("degplug.ndr.restore_net", fromlist=["NDRRestoreNet"]).NDRRestoreNet).parameters["ffn_expansion"].default
    basicsr, mmagic = model_arguments(ndr_opt, load_config(TWINS[NDR_DEMO][0]), "ndr")
    assert basicsr == mmagic


def test_test_options_name_the_sizes_of_the_recipe_they_evaluate():
    """The test options have no MMagic twin; their networks are those of the recipes they test."""
    test_udm, demo_udm = load_options("test/UDM/test_UDM_demo_embedded.yml"), load_options("train/UDM/train_UDM_demo_embedded.yml")
    assert _udm_config(test_udm["network_g"]) == _udm_config(demo_udm["network_g"])
    arch, _ = _registries()
    test_net, train_net = load_options("test/NDR/test_NDR_allinone3.yml")["network_g"], load_options("train/NDR/train_NDR_allinone3.yml")["network_g"]
    assert with_defaults(arch.get(test_net["type"]), test_net) == with_defaults(arch.get(train_net["type"]), train_net)
