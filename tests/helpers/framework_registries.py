"""The frameworks' registries with degplug's modules registered (skips when the framework is absent)."""

from __future__ import annotations

import pytest


def basicsr_registries() -> dict:
    pytest.importorskip("basicsr")
    import basicsr_ext  # noqa: F401  (registers degplug's modules)
    from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, MODEL_REGISTRY

    return {"arch": ARCH_REGISTRY, "model": MODEL_REGISTRY, "dataset": DATASET_REGISTRY, "loss": LOSS_REGISTRY}
