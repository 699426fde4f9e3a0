"""What degplug registers in MMagic's registries, as a table.

Core classes are registered by call (no decorators in the core). Registration is idempotent.
It also installs degplug's weights-only loader for mmengine checkpoints
(:mod:`mmagic_ext.checkpoints.loading`), so ``mim train/test`` and ``python -m mmagic_ext.train``
read ``load_from`` / ``--resume`` / ``--checkpoint`` files without unpickling arbitrary objects.
A class whose name MMagic already uses for something else is registered under an alias, written
``"module:Class as Alias"`` (degplug's ``GradientPenaltyLoss`` is ``UDMGradientPenaltyLoss`` here,
because MMagic has its own ``GradientPenaltyLoss``; BasicSR registers it under that name too, so one
config key works in both frameworks).
"""

from __future__ import annotations

import importlib

# registry name -> list of "module:Class" paths.
REGISTERED: dict[str, list[str]] = {
    "models": [
        "degplug.udm.model:UniversalDegradationModel",
        "degplug.udm.discriminator:UDMDiscriminator",
        "degplug.losses.dists:DISTSLoss",
        "degplug.losses.color:ColorLoss",
        "degplug.losses.diversity:DiversityLoss",
        "degplug.losses.contrastive:ContrastiveLoss",
        "degplug.losses.wgan_gp:WGANGeneratorLoss",
        "degplug.losses.wgan_gp:WGANDiscriminatorLoss",
        "degplug.losses.wgan_gp:GradientPenaltyLoss as UDMGradientPenaltyLoss",
        "mmagic_ext.models.data_preprocessors.data_preprocessor:DegplugDataPreprocessor",
        "mmagic_ext.models.data_preprocessors.data_preprocessor:DegplugDataPreprocessor as UDMDataPreprocessor",
        "mmagic_ext.models.editors.udm_editor:UDMEditor",
        "mmagic_ext.models.editors.blind_editor:BlindRestorationEditor",
        "degplug.ndr.restore_net:NDRRestoreNet",
        "degplug.ndr.degrad_net:NDRDegradNet",
        "mmagic_ext.models.editors.ndr_editor:NDREditor",
    ],
    "datasets": [
        "mmagic_ext.datasets.degplug_datasets:DegplugSyntheticPairDataset",
        "mmagic_ext.datasets.degplug_datasets:DegplugTransferTupleDataset",
        "mmagic_ext.datasets.degplug_datasets:DegplugPairedFolderDataset",
        "mmagic_ext.datasets.degplug_datasets:DegplugAllInOneDataset",
    ],
    "transforms": [],
    "metrics": [
        "mmagic_ext.evaluation.metrics.udm_quality_metric:UDMQualityMetric",
        "mmagic_ext.evaluation.metrics.ndr_task_metric:NDRTaskMetric",
    ],
    "hooks": [
        "mmagic_ext.engine.hooks.transfer_panel_hook:UDMTransferPanelHook",
        "mmagic_ext.engine.hooks.export_hook:UDMCheckpointExportHook",
        "mmagic_ext.engine.hooks.export_hook:NDRCheckpointExportHook",
    ],
    "visualizers": [],
    "optim_wrapper_constructors": [
        "mmagic_ext.engine.optimizers.optim_constructor:ParameterGroupsOptimWrapperConstructor",
        "mmagic_ext.engine.optimizers.optim_constructor:ParameterGroupsOptimWrapperConstructor as UDMOptimWrapperConstructor",
        "mmagic_ext.engine.optimizers.optim_constructor:ParameterGroupsOptimWrapperConstructor as NDROptimWrapperConstructor",
    ],
    "model_wrappers": [
        "mmagic_ext.models.wrappers.distributed_wrapper:DegplugReplicaWrapper",
    ],
}


def _load(path: str) -> tuple[type, str]:
    """``"module:Class"`` or ``"module:Class as Alias"`` → (class, registered name)."""
    module_name, _, rest = path.partition(":")
    class_name, _, alias = (part.strip() for part in rest.partition(" as "))
    return getattr(importlib.import_module(module_name), class_name), alias or class_name


def _registries() -> dict:
    from mmagic.registry import (
        DATASETS, HOOKS, METRICS, MODEL_WRAPPERS, MODELS, OPTIM_WRAPPER_CONSTRUCTORS, TRANSFORMS, VISUALIZERS,
    )

    return {
        "models": MODELS, "datasets": DATASETS, "transforms": TRANSFORMS,
        "metrics": METRICS, "hooks": HOOKS, "visualizers": VISUALIZERS,
        "optim_wrapper_constructors": OPTIM_WRAPPER_CONSTRUCTORS, "model_wrappers": MODEL_WRAPPERS,
    }


def register_all() -> None:
    """Register every class of ``REGISTERED`` in its MMagic registry (once).

    MMagic's own modules are registered first, so a name clash is detected here rather than
    later when MMagic imports a module of its own.
    """
    from mmagic.utils import register_all_modules

    from mmagic_ext.checkpoints.loading import install as install_weights_only_loading

    register_all_modules(init_default_scope=False)
    install_weights_only_loading()
    registries = _registries()
    for registry_name, paths in REGISTERED.items():
        registry = registries[registry_name]
        for path in paths:
            cls, name = _load(path)
            existing = registry.module_dict.get(name)
            if existing is None:
                registry.register_module(name=name, module=cls)
            elif existing is not cls:
                raise RuntimeError(
                    f"MMagic {registry_name} registry already holds another class named {name!r} "
                    f"({existing.__module__}); degplug names must be unique"
                )
