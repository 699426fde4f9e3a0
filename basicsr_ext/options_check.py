"""Checks a BasicSR options file before any training starts, so mistakes fail fast and clearly.

BasicSR itself reports a misspelled type as a KeyError deep inside model construction, after it
has created experiment folders. These checks run first and name the key, the value and the
closest valid spelling.
"""

from __future__ import annotations

import difflib
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


def check_options(path: str | os.PathLike, registries: dict | None = None) -> dict[str, Any]:
    """Validate the options file at ``path`` and return its contents.

    ``registries`` maps "arch", "model", "dataset", "loss" to BasicSR registries; when given,
    every ``type`` is looked up in the right one.
    """
    file = str(path)
    options = load_options_file(path)
    for key in options:
        if key not in TOP_LEVEL_KEYS and not str(key).startswith(NETWORK_PREFIX):
            raise OptionsError(f"{file}: unknown top-level option {key!r}.{_suggest(str(key), TOP_LEVEL_KEYS)}")
    for required in ("name", "model_type"):
        if required not in options:
            raise OptionsError(f"{file}: the option {required!r} is missing")

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
        # A model class may validate its own options (degplug's models do).
        model_check = getattr(model_registry.get(options["model_type"]), "check_options", None)
        if model_check is not None:
            try:
                model_check(options)
            except ValueError as error:
                raise OptionsError(f"{file}: {error}") from None
    return options
