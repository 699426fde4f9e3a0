"""The frameworks' registries with degplug's modules registered (skips when the framework is absent)."""

from __future__ import annotations

import pytest


def basicsr_registries() -> dict:
    import importlib.util

    if importlib.util.find_spec("basicsr") is None:
        pytest.skip("basicsr is not installed")
    import basicsr_ext  # noqa: F401  (first: its compat shim lets basicsr import; registers degplug's modules)
    from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, MODEL_REGISTRY

    return {"arch": ARCH_REGISTRY, "model": MODEL_REGISTRY, "dataset": DATASET_REGISTRY, "loss": LOSS_REGISTRY}
