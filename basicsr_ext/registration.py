"""What degplug registers in BasicSR's registries, as a table.

Core classes carry no framework decorators; they are registered here by call. Registration is
idempotent, so importing ``basicsr_ext`` twice (or from a worker process) is harmless. A class may
also be registered under a second name, written ``"module:Class as Alias"``: degplug's
``GradientPenaltyLoss`` is ``UDMGradientPenaltyLoss`` in both frameworks (MMagic has a
``GradientPenaltyLoss`` of its own), and keeps its class name here for existing option files.
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
        "degplug.losses.wgan_gp:GradientPenaltyLoss as UDMGradientPenaltyLoss",
        "degplug.losses.wgan_gp:GradientPenaltyLoss",  # the earlier name, for existing option files
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


def _load(path: str) -> tuple[type, str]:
    """``"module:Class"`` or ``"module:Class as Alias"`` → (class, registered name)."""
    module_name, _, rest = path.partition(":")
    class_name, _, alias = (part.strip() for part in rest.partition(" as "))
    return getattr(importlib.import_module(module_name), class_name), alias or class_name


def _registries() -> dict:
    from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, MODEL_REGISTRY

    return {"arch": ARCH_REGISTRY, "loss": LOSS_REGISTRY, "dataset": DATASET_REGISTRY, "model": MODEL_REGISTRY}


def register_all() -> None:
    """Register every class of ``REGISTERED`` in its BasicSR registry (once)."""
    registries = _registries()
    for registry_name, paths in REGISTERED.items():
        registry = registries[registry_name]
        for path in paths:
            cls, name = _load(path)
            existing = registry.get(name) if name in registry else None
            if existing is None:
                registry._do_register(name, cls)  # register() would take the class's own name
            elif existing is not cls:
                raise RuntimeError(
                    f"BasicSR {registry_name} registry already holds another class named {name!r} "
                    f"({existing.__module__}); degplug names must be unique"
                )
