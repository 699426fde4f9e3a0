"""Checks a BasicSR options file before any training starts, so mistakes fail fast and clearly.

BasicSR itself reports a misspelled type as a KeyError deep inside model construction, after it
has created experiment folders. These checks run first and name the key, the value and the
closest valid spelling.
"""

from __future__ import annotations

import difflib
import inspect
import math
import os
from pathlib import Path
from typing import Any

import yaml

TOP_LEVEL_KEYS = {
    "name", "model_type", "scale", "num_gpu", "manual_seed", "datasets", "path", "train", "val",
    "logger", "dist_params", "find_unused_parameters", "use_static_graph", "is_train", "dist", "rank",
    "world_size", "auto_resume", "degplug",
}
NETWORK_PREFIX = "network_"
PATH_KEYS_THAT_MUST_EXIST = ("resume_state",)
PATH_PREFIXES_THAT_MUST_EXIST = ("pretrain_network_",)

# The nested keys BasicSR 1.4.2 reads (basicsr/train.py, data/__init__.py, data/*_dataset.py,
# models/*_model.py, utils/options.py, utils/logger.py). Unknown keys in these blocks are
# misspellings that BasicSR would silently ignore (``total_iters``) or trip over later.
DATASET_LOADER_KEYS = {
    "name", "type", "phase", "scale", "batch_size_per_gpu", "num_worker_per_gpu", "dataset_enlarge_ratio",
    "prefetch_mode", "num_prefetch_queue", "pin_memory", "persistent_workers", "use_shuffle",
}
BASICSR_DATASET_KEYS = DATASET_LOADER_KEYS | {
    "dataroot_gt", "dataroot_lq", "dataroot_flow", "meta_info_file", "meta_info", "io_backend", "filename_tmpl",
    "gt_size", "use_hflip", "use_rot", "color", "mean", "std", "num_frame", "val_partition", "interval_list",
    "random_reverse", "use_duf_downsampling", "padding", "cache_data", "test_mode", "flip_sequence", "num_gpu",
    "blur_kernel_size", "kernel_list", "kernel_prob", "blur_sigma", "betag_range", "betap_range", "sinc_prob",
    "blur_kernel_size2", "kernel_list2", "kernel_prob2", "blur_sigma2", "betag_range2", "betap_range2",
    "sinc_prob2", "final_sinc_prob", "db_paths", "client_keys",
}
TRAIN_KEYS = {
    "ema_decay", "scheduler", "total_iter", "warmup_iter", "net_d_iters", "net_d_init_iters", "dcn_lr_mul",
    "tsa_iter", "fix_flow", "flow_lr_mul", "lr_flow", "mixing_prob", "net_d_reg_every", "net_g_reg_every",
    "path_batch_shrink", "path_reg_weight", "r1_reg_weight",
}
TRAIN_PREFIXES, TRAIN_SUFFIXES = ("optim_",), ("_opt",)  # optimizers and losses (types checked below)
VAL_KEYS = {"val_freq", "save_img", "suffix", "metrics", "pbar", "center_frame_only", "flip_seq", "num_val_samples"}
LOGGER_KEYS = {"print_freq", "save_checkpoint_freq", "use_tb_logger", "wandb"}


def _extra_model_keys(model_type: str) -> dict[str, set[str]]:
    """What degplug's models read beyond BasicSR's keys, per block (see each model's docstring)."""
    if model_type == "UDMModel":
        return {"train": {"udm", "amp", "channels_last"}, "val": {"weight_paths", "seed"}}
    if model_type == "NDRModel":
        from basicsr_ext.ndr_model import TRAIN_KEYS as NDR_TRAIN_KEYS

        return {"train": set(NDR_TRAIN_KEYS)}
    return {}


def _number(low: float | None = None, integer: bool = False, low_open: bool = False):
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return "a finite number"
        if integer and value != int(value):
            return "an integer"
        if low is not None and (value <= low if low_open else value < low):
            return f"a number {'>' if low_open else '≥'} {low:g}"
        return None
    return check


def _kind(*kinds: type, text: str):
    def check(value: Any) -> str | None:
        ok = any(isinstance(value, bool) if k is bool else (isinstance(value, k) and not isinstance(value, bool)) for k in kinds)
        return None if ok else text
    return check


def _typed_block(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        return "a mapping with a 'type' (e.g. {type: Adam, lr: 1e-4})"
    return None


def _optional(check):
    return lambda value: None if value is None else check(value)


_BOOL = _kind(bool, text="true or false")
#: value checks per block and key: each returns None or what was expected
VALUE_CHECKS: dict[str, dict[str, Any]] = {
    "dataset": {
        "batch_size_per_gpu": _number(1, integer=True), "num_worker_per_gpu": _number(0, integer=True),
        "dataset_enlarge_ratio": _number(0, low_open=True), "num_prefetch_queue": _number(1, integer=True),
        "prefetch_mode": lambda v: None if v in (None, "cpu", "cuda") else "~, 'cpu' or 'cuda'",
        "pin_memory": _BOOL, "persistent_workers": _BOOL, "use_shuffle": _BOOL, "use_hflip": _BOOL,
        "use_rot": _BOOL, "gt_size": _number(1, integer=True), "io_backend": _typed_block,
        "name": _kind(str, text="a string"), "filename_tmpl": _kind(str, text="a string"),
        "degrade_on": lambda v: None if v in ("cpu", "device") else "'cpu' or 'device'",
    },
    "train": {
        "total_iter": _number(1, integer=True), "warmup_iter": _number(None, integer=True),
        "ema_decay": _number(0), "scheduler": _typed_block, "net_d_iters": _number(1, integer=True),
        "net_d_init_iters": _number(0, integer=True),
        "amp": lambda v: None if v in (None, False, "none", "bf16", "fp16") else "one of none, bf16, fp16",
        "channels_last": _optional(_BOOL),
    },
    "val": {
        "val_freq": _number(0, low_open=True), "save_img": _BOOL, "pbar": _BOOL,
        "suffix": _optional(_kind(str, text="a string")), "metrics": _optional(_kind(dict, list, text="a mapping or a list of metrics")),
    },
    "logger": {
        "print_freq": _number(0, low_open=True), "save_checkpoint_freq": _number(0, low_open=True),
        "use_tb_logger": _BOOL, "wandb": _optional(_kind(dict, text="a mapping (project, resume_id)")),
    },
    "top": {
        "num_gpu": lambda v: None if v == "auto" or _number(0, integer=True)(v) is None else "a number ≥ 0 or 'auto'",
        "manual_seed": _optional(_number(None, integer=True)), "scale": _number(1, integer=True),
        "name": _kind(str, text="a string"), "model_type": _kind(str, text="a string"),
    },
}


class OptionsError(ValueError):
    """An options file that cannot be trained from; the message names the file and key."""


def _suggest(value: str, choices) -> str:
    close = difflib.get_close_matches(value, list(choices), n=3)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def load_options_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read an options YAML file into a dict, with errors naming the file."""
    path = Path(path)
    if not path.is_file():
        raise OptionsError(f"options file {str(path)!r} does not exist")
    try:
        options = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise OptionsError(f"options file {str(path)!r} is not valid YAML: {error}") from error
    if not isinstance(options, dict):
        raise OptionsError(f"options file {str(path)!r} must contain a mapping of options, found {type(options).__name__}")
    return options


def _check_type(where: str, block: Any, registry, registry_label: str, file: str) -> None:
    if not isinstance(block, dict) or "type" not in block:
        return
    name = block["type"]
    if name not in registry:
        raise OptionsError(
            f"{file}: {where}.type = {name!r} is not a registered {registry_label}.{_suggest(str(name), registry.keys())}"
        )


def _check_values(where: str, block: dict, checks: dict[str, Any], file: str) -> None:
    for key, value in block.items():
        check = checks.get(key)
        if check is None and any(str(key).startswith(p) for p in TRAIN_PREFIXES) and where == "train":
            check = _typed_block
        expected = check(value) if check is not None else None
        if expected is not None:
            raise OptionsError(f"{file}: {where}.{key} = {value!r}: expected {expected}")


def _check_keys(where: str, block: dict, known: set[str], file: str, owner: str = "", prefixes=(), suffixes=()) -> None:
    for key in block:
        name = str(key)
        if name in known or name.startswith(tuple(prefixes)) or name.endswith(tuple(suffixes)):
            continue
        label = f" of {owner}" if owner else ""
        raise OptionsError(f"{file}: {where}: unknown option {name!r}{label}.{_suggest(name, known)}")


def _is_framework_class(cls: Any) -> bool:
    """BasicSR's own classes and degplug's: the ones whose keys are known here."""
    return str(getattr(cls, "__module__", "")).startswith(("basicsr.", "basicsr_ext.", "degplug."))


def _annotation_matches(value: Any, hint: Any) -> bool:
    """Whether a YAML value fits a constructor annotation (unknown annotations: accepted)."""
    import collections.abc
    import types
    import typing

    if hint in (Any, inspect.Parameter.empty):
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_annotation_matches(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str or hint is Path:
        return isinstance(value, str)
    sequences = (list, tuple, collections.abc.Sequence, collections.abc.Iterable)
    if hint in sequences or origin in sequences:
        if not isinstance(value, (list, tuple)):
            return False
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return not args or all(any(_annotation_matches(item, a) for a in args) for item in value)
    if hint is dict or origin in (dict, collections.abc.Mapping):
        return isinstance(value, dict)
    return True


def _hint_text(hint: Any) -> str:
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "").replace("pathlib.", "").replace("collections.abc.", "")


def _check_constructor(where: str, block: dict, constructor: Any, file: str, owner: str, ignored: set[str]) -> None:
    """Keys and value types of ``block`` against ``constructor``'s keyword arguments and annotations."""
    import typing

    try:
        signature = inspect.signature(constructor)
        hints = typing.get_type_hints(constructor)
    except (TypeError, ValueError, NameError):
        return
    parameters = {name: p for name, p in signature.parameters.items() if name != "self"}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    if not takes_any:
        _check_keys(where, {k: v for k, v in block.items() if k not in ignored}, set(parameters), file, owner)
    for key, value in block.items():
        if key in ignored or key not in hints or key not in parameters:
            continue
        if not _annotation_matches(value, hints[key]):
            raise OptionsError(f"{file}: {where}.{key} = {value!r}: {owner} expects {_hint_text(hints[key])}")


def _check_dataset(where: str, dataset: dict, registry, file: str) -> None:
    """A datasets.<phase> block: keys of its type (BasicSR's or degplug's) and value types."""
    _check_values(where, dataset, VALUE_CHECKS["dataset"], file)
    cls = registry.get(dataset.get("type")) if registry is not None and dataset.get("type") in registry else None
    if cls is None or not _is_framework_class(cls):
        return  # a third-party dataset reads keys we do not know
    if str(cls.__module__).startswith("basicsr."):
        _check_keys(where, dataset, BASICSR_DATASET_KEYS, file, dataset["type"])
        return
    from basicsr_ext.datasets import BASICSR_BOOKKEEPING

    core = next((base for base in cls.__mro__[1:] if str(base.__module__).startswith("degplug.")), None)
    if core is None:
        return
    _check_constructor(where, dataset, core.__init__, file, dataset["type"], BASICSR_BOOKKEEPING | DATASET_LOADER_KEYS)
    if isinstance(dataset.get("tasks"), list):
        from degplug.data.all_in_one import TASK_KEYS

        for index, task in enumerate(dataset["tasks"]):
            if isinstance(task, dict):
                _check_keys(f"{where}.tasks[{index}]", task, set(TASK_KEYS), file, "an all-in-one task")


def _check_nested(options: dict, registries: dict, file: str) -> None:
    """Keys and value types of the datasets / train / val / logger blocks and degplug's networks."""
    _check_values("options", options, VALUE_CHECKS["top"], file)
    model_class = registries["model"].get(options["model_type"])
    known_model = _is_framework_class(model_class)
    extra = _extra_model_keys(options["model_type"])
    for phase, dataset in (options.get("datasets") or {}).items():
        _check_dataset(f"datasets.{phase}", dataset, registries.get("dataset"), file)
    train = options.get("train") or {}
    if known_model:
        _check_keys("train", train, TRAIN_KEYS | extra.get("train", set()), file, prefixes=TRAIN_PREFIXES, suffixes=TRAIN_SUFFIXES)
    _check_values("train", train, VALUE_CHECKS["train"], file)
    val = options.get("val") or {}
    if known_model:
        _check_keys("val", val, VAL_KEYS | extra.get("val", set()), file)
    _check_values("val", val, VALUE_CHECKS["val"], file)
    logger = options.get("logger") or {}
    _check_keys("logger", logger, LOGGER_KEYS, file)
    _check_values("logger", logger, VALUE_CHECKS["logger"], file)
    for key, block in options.items():
        if str(key).startswith(NETWORK_PREFIX) and isinstance(block, dict) and block.get("type") in registries["arch"]:
            arch = registries["arch"].get(block["type"])
            if str(arch.__module__).startswith("degplug."):
                _check_constructor(key, block, arch.__init__, file, block["type"], {"type"})


def apply_overrides(options: dict, overrides: list[str], file: str) -> None:
    """Apply ``--force_yml`` entries (``train:amp=bf16``) to ``options`` in place, as BasicSR does
    after reading the file (values parsed by BasicSR's own rule; the parent keys must exist)."""
    from basicsr.utils.options import _postprocess_yml_value

    for entry in overrides:
        keys, separator, value = entry.partition("=")
        if not separator or not keys.strip():
            raise OptionsError(f"--force_yml {entry!r}: expected KEY:SUBKEY=VALUE (e.g. train:amp=bf16)")
        path = [key.strip() for key in keys.strip().split(":")]
        block = options
        for depth, key in enumerate(path[:-1]):
            if not isinstance(block.get(key), dict):
                raise OptionsError(f"{file}: --force_yml {entry!r}: {':'.join(path[:depth + 1])} is not a mapping of the options")
            block = block[key]
        block[path[-1]] = _postprocess_yml_value(value.strip())


def check_options(path: str | os.PathLike, registries: dict | None = None, overrides: list[str] | None = None) -> dict[str, Any]:
    """Validate the options file at ``path`` and return its contents.

    ``registries`` maps "arch", "model", "dataset", "loss" to BasicSR registries; when given,
    every ``type`` is looked up in the right one. ``overrides``: ``--force_yml`` entries, applied
    before the checks.
    """
    file = str(path)
    options = load_options_file(path)
    if overrides:
        apply_overrides(options, overrides, file)
    for key in options:
        if key not in TOP_LEVEL_KEYS and not str(key).startswith(NETWORK_PREFIX):
            raise OptionsError(f"{file}: unknown top-level option {key!r}.{_suggest(str(key), TOP_LEVEL_KEYS)}")
    for required in ("name", "model_type"):
        if required not in options:
            raise OptionsError(f"{file}: the option {required!r} is missing")
    for block_name in ("datasets", "train", "val", "logger", "path", "dist_params"):
        if options.get(block_name) is not None and not isinstance(options[block_name], dict):
            raise OptionsError(f"{file}: {block_name} must be a mapping, found {type(options[block_name]).__name__}")
    for phase, dataset in (options.get("datasets") or {}).items():
        if not isinstance(dataset, dict):
            raise OptionsError(f"{file}: datasets.{phase} must be a mapping")

    for key, value in (options.get("path") or {}).items():
        must_exist = key in PATH_KEYS_THAT_MUST_EXIST or any(key.startswith(p) for p in PATH_PREFIXES_THAT_MUST_EXIST)
        if must_exist and value and not Path(value).exists():
            raise OptionsError(f"{file}: path.{key} = {value!r} does not exist")
    for phase, dataset in (options.get("datasets") or {}).items():
        if not isinstance(dataset, dict):
            raise OptionsError(f"{file}: datasets.{phase} must be a mapping")
        places = [(f"datasets.{phase}", dataset)]
        # all-in-one datasets list their folders per task
        places += [(f"datasets.{phase}.tasks[{i}]", task) for i, task in enumerate(dataset.get("tasks") or []) if isinstance(task, dict)]
        for where, block in places:
            for key, value in block.items():
                if (key.startswith("dataroot") or key.endswith("_folder")) and isinstance(value, str):
                    if not value.startswith("embedded:") and not Path(value).exists():
                        raise OptionsError(f"{file}: {where}.{key} = {value!r} does not exist")

    if registries is not None:
        model_registry = registries["model"]
        if options["model_type"] not in model_registry:
            raise OptionsError(
                f"{file}: model_type = {options['model_type']!r} is not a registered model."
                f"{_suggest(str(options['model_type']), model_registry.keys())}"
            )
        for key, block in options.items():
            if str(key).startswith(NETWORK_PREFIX):
                _check_type(key, block, registries["arch"], "arch", file)
        for phase, dataset in (options.get("datasets") or {}).items():
            _check_type(f"datasets.{phase}", dataset, registries["dataset"], "dataset", file)
        for key, block in (options.get("train") or {}).items():
            if str(key).endswith("_opt"):
                _check_type(f"train.{key}", block, registries["loss"], "loss", file)
        _check_nested(options, registries, file)
        # A model class may validate its own options (degplug's models do).
        model_check = getattr(model_registry.get(options["model_type"]), "check_options", None)
        if model_check is not None:
            try:
                model_check(options)
            except ValueError as error:
                raise OptionsError(f"{file}: {error}") from None
    return options
