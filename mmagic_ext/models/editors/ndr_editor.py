"""NDREditor: NDR-Restore's bidirectional training and its test protocol as an mmengine ``BaseModel``.

The loss math, the schedule and the iteration are ``degplug.ndr.training.NDRTrainingStep``
(``step``); this class only moves batches and hands it the optimizers of an ``OptimWrapperDict``
(built by ``NDROptimWrapperConstructor`` from ``degplug.ndr.training.parameter_groups``), as they are:

    ``restoration``     NDR-Restore's backbone and injections
    ``representation``  the NDR dictionary tokens and the degradation queries
    ``degradation``     every parameter of NDR-Degrad
    ``representation_degradation``  the representation group again, stepped in the alternate
                        schedule's degradation half-step (``optimizer_state='separate'``, the
                        default; with ``'shared'`` ``representation`` steps in both half-steps)

Per phase of the schedule (``joint``: one phase; ``alternate``: degradation then restoration
half-step): zero every group's gradients, ``compute_losses`` (checked finite before backward),
backward, clip the joint gradient norm of the stepping groups to ``grad_clip`` (10), step exactly
the optimizers of ``phase_optimizers(phase)``. The runner saves and resumes every optimizer of the
dict. This is the one iteration of ``NDRTrainingStep.step``, which BasicSR's ``NDRModel`` calls too.

Config::

    model = dict(
        type='NDREditor',
        restorer=dict(type='NDRRestoreNet', width=48, ...),     # NDRRestoreNet keyword arguments
        degrader=dict(type='NDRDegradNet', width=48, rank=16),  # NDRDegradNet keyword arguments
        training=dict(schedule='joint', restoration_weight=1.0, degradation_weight=1.0,
                      optimizer_state='separate'),  # alternate schedule: 'separate' | 'shared'
        grad_clip=10.0,
        data_preprocessor=dict(type='DegplugDataPreprocessor'))

Mixed precision: ``training=dict(amp='bf16')`` (or ``'fp16'``, ``channels_last=True``), done by
``NDRTrainingStep`` (autocast; for fp16 one GradScaler, gradients unscaled before clipping); keep
``type='OptimWrapper'`` (``AmpOptimWrapper`` is refused).

``load_from`` / ``mim test --checkpoint`` also take a degplug NDR checkpoint (``ndr_<iter>.pth`` or
``degplug convert ndr-official`` output): its ``state_dict`` has this editor's ``restorer.`` /
``degrader.`` layout.

``val_step``/``test_step`` restore ``lq`` with the test protocol (reflect-pad to a multiple of 8,
restore, crop, clamp, image by image; ``degplug.eval.ndr_scoring.restore_images``) and return ``DataSample`` s in
MMagic's convention (3×H×W float RGB in [0, 255], so MMagic's ``PSNR``/``SSIM`` work unchanged):

    ``pred_img`` (also under ``output``)  the restored image R(lq)
    ``gt_img``                             the clean target
    ``img``                                the degraded input lq
    metainfo ``task``                      the all-in-one task tag of the item (when the dataset has one)

Data-parallel training (``--launcher pytorch``, wrapped in ``DegplugReplicaWrapper``): in each
phase the stepping groups' gradients are averaged over the ranks right after the backward pass
(before clipping, so every rank clips the same norm), and after the iteration rank 0's buffers are
copied to every rank, as BasicSR's ``NDRModel`` does. Both are no-ops in a single process.
"""

from __future__ import annotations

import torch
from mmengine.optim import OptimWrapperDict
from torch import nn

from degplug.eval.ndr_scoring import restore_images
from degplug.ndr.degrad_net import NDRDegradNet
from degplug.ndr.restore_net import NDRRestoreNet
from degplug.ndr.training import OPTIMIZER_GROUPS, NDRTrainingStep, parameter_groups
from mmagic_ext.models.data_preprocessors.data_preprocessor import DegplugDataPreprocessor
from mmagic_ext.models.base_models.editor_base import DegplugEditor, refuse_amp_wrappers

TRAINING_KEYS = (
    "schedule", "restoration_weight", "degradation_weight", "detach_representation_in_degradation_phase",
    "optimizer_state", "amp", "channels_last",
)


def _build(config: dict | nn.Module | None, what: str) -> nn.Module | None:
    if config is None or isinstance(config, nn.Module):
        return config
    from mmagic.registry import MODELS

    if not isinstance(config, dict) or "type" not in config:
        raise ValueError(f"NDREditor: {what} must be a config dict with a 'type' (or a module), got {config!r}")
    return MODELS.build(dict(config))


class NDREditor(DegplugEditor):
    """NDR-Restore trained against NDR-Degrad in MMagic (see the module doc).

    Args:
        restorer: ``dict(type='NDRRestoreNet', ...)`` or the module. Built from a dict, its keyword
            arguments are kept (``restorer_config``) for the self-describing ``ndr_<iter>.pth`` export.
        degrader: ``dict(type='NDRDegradNet', ...)`` or the module (``degrader_config`` likewise).
        training: ``NDRTrainingStep`` keyword arguments (schedule, weights, detach option).
        grad_clip: max joint gradient norm of the stepping groups per phase (None: no clipping).
        data_preprocessor: stacks degplug's [0, 1] images (``DegplugDataPreprocessor`` by default).
        pad_multiple: evaluation reflect-pads to a multiple of this (8).
    """

    # Gradients are averaged over the ranks in train_step (see DegplugReplicaWrapper).
    synchronises_gradients = True
    # For ParameterGroupsOptimWrapperConstructor: the group each optimizer key holds (and whose
    # optim_wrapper section it inherits), and why a wrapper's clip_grad is refused.
    optimizer_groups = OPTIMIZER_GROUPS
    optimizer_no_clip_grad = (
        "clip_grad would clip each group separately; set the editor's grad_clip instead "
        "(joint norm of the groups that step, 10 in the paper)"
    )

    def __init__(
        self,
        restorer: dict | NDRRestoreNet,
        degrader: dict | NDRDegradNet | None = None,
        training: dict | None = None,
        grad_clip: float | None = 10.0,
        data_preprocessor: dict | nn.Module | None = None,
        pad_multiple: int = 8,
        init_cfg: dict | None = None,
    ) -> None:
        preprocessor = _build(data_preprocessor, "data_preprocessor") or DegplugDataPreprocessor()
        super().__init__(data_preprocessor=preprocessor, init_cfg=init_cfg)
        self.restorer = _build(restorer, "restorer")
        if not isinstance(self.restorer, NDRRestoreNet):
            raise ValueError(f"NDREditor: restorer must be an NDRRestoreNet, got {type(self.restorer).__name__}")
        self.restorer_config = (
            {k: v for k, v in restorer.items() if k != "type"} if isinstance(restorer, dict) else None
        )
        self.degrader = _build(degrader, "degrader")
        self.degrader_config = (
            {k: v for k, v in degrader.items() if k != "type"} if isinstance(degrader, dict) else None
        )
        if self.degrader is not None and not isinstance(self.degrader, NDRDegradNet):
            raise ValueError(f"NDREditor: degrader must be an NDRDegradNet, got {type(self.degrader).__name__}")
        training = dict(training or {})
        unknown = sorted(set(training) - set(TRAINING_KEYS))
        if unknown:
            raise ValueError(f"NDREditor: unknown training key(s) {unknown}, expected some of {list(TRAINING_KEYS)}")
        self.training_step = NDRTrainingStep(**training)
        self.grad_clip = None if grad_clip is None else float(grad_clip)
        self.pad_multiple = int(pad_multiple)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """``restoration``, ``representation``, ``degradation`` (``degplug.ndr.training.parameter_groups``)."""
        if self.degrader is None:
            raise ValueError("NDREditor: training needs a degrader (dict(type='NDRDegradNet', ...))")
        return parameter_groups(self.restorer, self.degrader)

    def optimizer_keys(self) -> tuple[str, ...]:
        """The optimizers the schedule needs (``NDRTrainingStep.optimizer_keys``)."""
        return self.training_step.optimizer_keys

    # ---------------------------------------------------------------- training
    def train_step(self, data: dict, optim_wrapper: OptimWrapperDict) -> dict[str, torch.Tensor]:
        """One NDR iteration (``NDRTrainingStep.step``: every phase of the schedule, module doc) over
        the wrappers as they are. Returns the detached losses, prefixed by the phase in the
        alternate schedule (``degradation_loss_degradation``...)."""
        expected = self.optimizer_keys()
        missing = [name for name in expected if name not in optim_wrapper]
        if missing:
            raise ValueError(f"NDREditor.train_step: optim_wrapper lacks {missing}; expected {list(expected)}")
        refuse_amp_wrappers(optim_wrapper, "NDREditor")
        self.parameter_groups()  # a clear error without a degrader
        batch = self.data_preprocessor(data, True)["inputs"]
        logs = self.training_step.step(self.restorer, self.degrader, batch, self._iteration(), optim_wrapper,
                                       grad_clip=self.grad_clip)
        return {key.replace("/", "_"): value for key, value in logs.items()}

    # --------------------------------------------------------------- inference
    @torch.no_grad()
    def predict(self, lq: torch.Tensor) -> torch.Tensor:
        """Test protocol: N×3×H×W lq in [0, 1] → restored N×3×H×W in [0, 1] (reflect-pad, crop, clamp),
        image by image (``degplug.eval.ndr_scoring.restore_images``, as BasicSR and ``degplug eval ndr``)."""
        return restore_images(self.restorer, lq, self.pad_multiple)

    def _data_samples(self, data: dict) -> list:
        from mmagic.structures import DataSample

        processed = self.data_preprocessor(data, False)
        batch, samples = processed["inputs"], processed["data_samples"]
        restored = self.predict(batch["lq"])
        count = restored.shape[0]
        samples = list(samples) if samples is not None else [DataSample() for _ in range(count)]
        results = []
        for index in range(count):
            sample = samples[index].clone() if hasattr(samples[index], "clone") else DataSample()
            output = DataSample(pred_img=(restored[index] * 255.0).cpu())
            sample.set_data(dict(pred_img=output.pred_img, img=(batch["lq"][index] * 255.0).cpu()))
            if "gt" in batch:
                sample.set_data(dict(gt_img=(batch["gt"][index] * 255.0).cpu()))
            sample.output = output
            results.append(sample)
        return results

    def _tensor_output(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """``forward(mode='tensor')``: the restored ``inputs['lq']`` (N×3×H×W in [0, 1])."""
        return self.predict(inputs["lq"])
