"""What degplug registers in MMagic's registries, as a table.

Core classes are registered by call (no decorators in the core); names are unique across both
frameworks. Registration is idempotent.
"""

from __future__ import annotations

import importlib

# registry name -> list of "module:Class" paths.
REGISTERED: dict[str, list[str]] = {
    "models": [],
    "datasets": [],
    "transforms": [],
    "metrics": [],
    "hooks": [],
    "visualizers": [],
}


def _load(path: str) -> type:
    module_name, class_name = path.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def _registries() -> dict:
    from mmagic.registry import DATASETS, HOOKS, METRICS, MODELS, TRANSFORMS, VISUALIZERS

    return {
        "models": MODELS, "datasets": DATASETS, "transforms": TRANSFORMS,
        "metrics": METRICS, "hooks": HOOKS, "visualizers": VISUALIZERS,
    }


def register_all() -> None:
    """Register every class of ``REGISTERED`` in its MMagic registry (once)."""
    registries = _registries()
    for registry_name, paths in REGISTERED.items():
        registry = registries[registry_name]
        for path in paths:
            cls = _load(path)
            existing = registry.get(cls.__name__) if cls.__name__ in registry.module_dict else None
            if existing is None:
                registry.register_module(module=cls)
            elif existing is not cls:
                raise RuntimeError(
                    f"MMagic {registry_name} registry already holds another class named {cls.__name__!r}; "
                    "degplug names must be unique"
                )
