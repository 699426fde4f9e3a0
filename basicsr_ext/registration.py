"""What degplug registers in BasicSR's registries, as a table.

Core classes carry no framework decorators; they are registered here by call. Registration is
idempotent, so importing ``basicsr_ext`` twice (or from a worker process) is harmless.
"""

from __future__ import annotations

import importlib

from basicsr_ext import compat  # noqa: F401  (before the first basicsr import)

# registry name -> list of "module:Class" paths. Modules are imported when registering.
REGISTERED: dict[str, list[str]] = {
    "arch": [
        "degplug.udm.model:UniversalDegradationModel",
        "degplug.udm.discriminator:UDMDiscriminator",
        "degplug.ndr.restore_net:NDRRestoreNet",
        "degplug.ndr.degrad_net:NDRDegradNet",
    ],
    "loss": [
        "degplug.losses.dists:DISTSLoss",
        "degplug.losses.color:ColorLoss",
        "degplug.losses.diversity:DiversityLoss",
        "degplug.losses.contrastive:ContrastiveLoss",
        "degplug.losses.wgan_gp:WGANGeneratorLoss",
        "degplug.losses.wgan_gp:WGANDiscriminatorLoss",
        "degplug.losses.wgan_gp:GradientPenaltyLoss",
    ],
    "dataset": [
        "basicsr_ext.datasets:DegplugSyntheticPairDataset",
        "basicsr_ext.datasets:DegplugTransferTupleDataset",
        "basicsr_ext.datasets:DegplugPairedFolderDataset",
        "basicsr_ext.datasets:DegplugAllInOneDataset",
    ],
    "model": [
        "basicsr_ext.udm_model:UDMModel",
        "basicsr_ext.ndr_model:NDRModel",
        "basicsr_ext.blind_model:BlindRestorationModel",
    ],
}


def _load(path: str) -> type:
    module_name, class_name = path.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def _registries() -> dict:
    from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, MODEL_REGISTRY

    return {"arch": ARCH_REGISTRY, "loss": LOSS_REGISTRY, "dataset": DATASET_REGISTRY, "model": MODEL_REGISTRY}


def register_all() -> None:
    """Register every class of ``REGISTERED`` in its BasicSR registry (once)."""
    registries = _registries()
    for registry_name, paths in REGISTERED.items():
        registry = registries[registry_name]
        for path in paths:
            cls = _load(path)
            existing = registry.get(cls.__name__) if cls.__name__ in registry else None
            if existing is None:
                registry.register(cls)
            elif existing is not cls:
                raise RuntimeError(
                    f"BasicSR {registry_name} registry already holds another class named {cls.__name__!r} "
                    f"({existing.__module__}); degplug names must be unique"
                )
