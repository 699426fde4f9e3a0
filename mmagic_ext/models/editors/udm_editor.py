"""UDMEditor: UDM training and evaluation as an mmengine ``BaseModel`` for MMagic configs.

The loss math and the iteration are ``degplug.udm.training.UDMTrainingStep`` (``step``); this
class only moves data and hands it the three optimizers of an ``OptimWrapperDict`` (built by
``UDMOptimWrapperConstructor`` from ``UDMTrainingStep.parameter_groups()``), passed as they are:

    ``generator``      encoders, rate models and synthesis network (group ``main``)
    ``entropy``        the rate models' quantiles, trained only by the auxiliary loss (group ``aux``)
    ``discriminator``  the WGAN-GP critic (only when ``training.weights.gan > 0``)

Config::

    model = dict(
        type='UDMEditor',
        generator=dict(type='UniversalDegradationModel', embed_dim=256, ...),   # UDMConfig keys
        discriminator=dict(type='UDMDiscriminator', width=64),                  # optional
        training=dict(weights=dict(...), dists_pretrained=True, ...),           # UDMTrainingOptions
        data_preprocessor=dict(type='DegplugDataPreprocessor'),
        seed=0)

Per-iteration randomness (synthesis noise, gradient-penalty mixing) comes from a generator seeded
with ``seed * 1_000_003 + rank + iteration`` (iteration counted from 1; ``degplug.utils.random.iteration_seed``),
as in BasicSR's ``UDMModel``, so the same seed gives the same run in both frameworks. Evaluation uses ``eval_seed``
with ``degplug.eval.udm_scoring``'s rule (image k of the data set: ``eval_seed + k``, k from the metainfo's
``sample_idx``), so ``mim test``, ``basicsr test`` and ``degplug eval udm`` score a checkpoint alike.

Mixed precision: ``training=dict(amp='bf16')`` (or ``'fp16'``, ``channels_last=True``), done by
``UDMTrainingStep`` (autocast; for fp16 one GradScaler for the generator and critic losses, the
float32 entropy loss unscaled); keep ``type='OptimWrapper'`` (``AmpOptimWrapper`` is refused).

Data-parallel training (``--launcher pytorch``, wrapped in ``DegplugReplicaWrapper``): after each
backward pass the gradients of the stepping optimizers are averaged over the ranks, and after the
iteration rank 0's buffers (BatchNorm statistics, the MoCo queue) are copied to every rank, so all
replicas stay identical. Both are no-ops in a single process.

Outputs of ``val_step``/``test_step`` are ``DataSample`` s in MMagic's convention (3×H×W float RGB
in [0, 255], so MMagic's ``PSNR``/``SSIM`` metrics work unchanged):

    ``pred_img`` (also under ``output``)   reproduction f(x, E(y))
    ``gt_img``                              its target, the true degraded image y
    ``img``                                 the clean image x
    with a transfer tuple in the batch, also
    ``transfer_pred_img`` (also under ``output``)  f(x_b, E(y)),  ``transfer_gt_img`` y_b,
    ``transfer_img`` x_b.

The frozen DISTS network of the similarity loss is rebuilt from its weight files (or seed) at
construction, so it is left out of the editor's checkpoints.
"""

from __future__ import annotations

import torch
from mmengine.optim import OptimWrapperDict
from torch import nn

from degplug.eval.udm_scoring import synthesize_rows
from degplug.udm.model import UniversalDegradationModel
from degplug.udm.training import UDMOptimizers, UDMTrainingOptions, UDMTrainingStep
from mmagic_ext.models.data_preprocessors.data_preprocessor import DegplugDataPreprocessor
from mmagic_ext.models.base_models.editor_base import DegplugEditor, refuse_amp_wrappers

# The entropy optimizer's default: Adam lr 1e-3, as the authors and BasicSR's UDMModel.
DEFAULT_ENTROPY = {"type": "OptimWrapper", "optimizer": {"type": "Adam", "lr": 1e-3}}

OPTIMIZER_OF_GROUP = {"main": "generator", "aux": "entropy", "discriminator": "discriminator"}
GENERATOR_PREFIX = "training_step.model."
FROZEN_PREFIX = "training_step.similarity."


def _build(config: dict | nn.Module | None, what: str) -> nn.Module | None:
    if config is None or isinstance(config, nn.Module):
        return config
    from mmagic.registry import MODELS

    if not isinstance(config, dict) or "type" not in config:
        raise ValueError(f"UDMEditor: {what} must be a config dict with a 'type' (or a module), got {config!r}")
    return MODELS.build(dict(config))


class UDMEditor(DegplugEditor):
    """UDM in MMagic: ``train_step`` over three optimizers, ``val_step``/``test_step`` → DataSamples."""

    # Gradients are averaged over the ranks in train_step (see DegplugReplicaWrapper).
    synchronises_gradients = True
    # For ParameterGroupsOptimWrapperConstructor: the entropy optimizer when optim_wrapper has none.
    optimizer_defaults = {"entropy": DEFAULT_ENTROPY}

    def __init__(
        self,
        generator: dict | UniversalDegradationModel,
        discriminator: dict | nn.Module | None = None,
        training: dict | UDMTrainingOptions | None = None,
        data_preprocessor: dict | nn.Module | None = None,
        seed: int = 0,
        eval_seed: int = 0,
        init_cfg: dict | None = None,
    ) -> None:
        preprocessor = _build(data_preprocessor, "data_preprocessor") or DegplugDataPreprocessor()
        super().__init__(data_preprocessor=preprocessor, init_cfg=init_cfg)
        model = _build(generator, "generator")
        if not isinstance(model, UniversalDegradationModel):
            raise ValueError(f"UDMEditor: generator must be a UniversalDegradationModel, got {type(model).__name__}")
        options = training if isinstance(training, UDMTrainingOptions) else UDMTrainingOptions.from_dict(training or {})
        self.training_step = UDMTrainingStep(model, options, discriminator=_build(discriminator, "discriminator"))
        self.seed = int(seed)
        self.eval_seed = int(eval_seed)
        self._local_iteration = 0
        if self.training_step.similarity is not None:
            self.training_step.similarity.register_state_dict_post_hook(_drop_frozen_entries)
            self.training_step.similarity.register_load_state_dict_pre_hook(_restore_frozen_entries)
        self.register_load_state_dict_pre_hook(_accept_degplug_udm_weights)

    # ------------------------------------------------------------- submodules
    @property
    def generator(self) -> UniversalDegradationModel:
        """The UniversalDegradationModel being trained (encoders, rate models, synthesis)."""
        return self.training_step.model

    @property
    def discriminator(self) -> nn.Module | None:
        return self.training_step.discriminator

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """``UDMTrainingStep.parameter_groups()`` keyed by optimizer name (generator/entropy/discriminator)."""
        return {OPTIMIZER_OF_GROUP[name]: params for name, params in self.training_step.parameter_groups().items()}

    def optimizer_param_groups(self) -> dict[str, list]:
        """What each optimizer gets: ``parameter_groups()``, with the generator's split into
        ``UDMTrainingStep.generator_param_groups()`` (the rate models at ``training.rate_lr``)."""
        groups: dict[str, list] = dict(self.parameter_groups())
        groups["generator"] = self.training_step.generator_param_groups()
        return groups

    # ---------------------------------------------------------------- training
    def train_step(self, data: dict, optim_wrapper: OptimWrapperDict) -> dict[str, torch.Tensor]:
        """One UDM iteration (``UDMTrainingStep.step``) over the wrappers ``generator``,
        ``entropy`` and, with a critic, ``discriminator``; returns its log."""
        batch = self.data_preprocessor(data, True)["inputs"]
        refuse_amp_wrappers(optim_wrapper, "UDMEditor")
        optimizers = UDMOptimizers(
            generator=optim_wrapper["generator"], entropy=optim_wrapper["entropy"],
            discriminator=optim_wrapper["discriminator"] if self.discriminator is not None else None,
        )
        return self.training_step.step(batch, self._iteration(), optimizers, seed=self.seed)

    # --------------------------------------------------------------- inference
    @torch.no_grad()
    def predict(self, batch: dict[str, torch.Tensor], indices: list[int] | None = None) -> dict[str, torch.Tensor]:
        """Reproduction ``output`` = f(gt, E(lq)) and, with ``gt_b``, ``transfer`` = f(gt_b, E(lq)).

        Inputs and outputs are N×3×H×W in [0, 1]; ``degplug.eval.udm_scoring.synthesize_rows``: image
        k's noise seeded ``eval_seed`` + ``indices[k]`` (its data-set index; default 0..N-1).
        """
        outputs = synthesize_rows(self.generator, batch, seed=self.eval_seed, indices=indices)
        result = {"output": outputs["reproduction"]}
        if "transfer" in outputs:
            result["transfer"] = outputs["transfer"]
        return result

    def _data_samples(self, data: dict) -> list:
        from mmagic.structures import DataSample

        processed = self.data_preprocessor(data, False)
        batch, samples = processed["inputs"], processed["data_samples"]
        count = batch["gt"].shape[0]
        samples = list(samples) if samples is not None else [DataSample() for _ in range(count)]
        predictions = self.predict(batch, _sample_indices(samples, count))
        results = []
        for index in range(count):
            sample = samples[index].clone() if hasattr(samples[index], "clone") else DataSample()

            def scaled(tensor: torch.Tensor) -> torch.Tensor:
                return (tensor[index] * 255.0).detach().cpu()

            output = DataSample(pred_img=scaled(predictions["output"]))
            sample.set_data(dict(pred_img=output.pred_img, gt_img=scaled(batch["lq"]), img=scaled(batch["gt"])))
            if "transfer" in predictions:
                output.set_data(dict(transfer_pred_img=scaled(predictions["transfer"])))
                sample.set_data(dict(
                    transfer_pred_img=output.transfer_pred_img,
                    transfer_gt_img=scaled(batch["lq_b"]) if "lq_b" in batch else None,
                    transfer_img=scaled(batch["gt_b"]),
                ))
            sample.output = output
            results.append(sample)
        return results

    def _tensor_output(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """``forward(mode='tensor')``: the reproduction (N×3×H×W in [0, 1])."""
        return self.predict(inputs)["output"]


def _sample_indices(samples: list, count: int) -> list[int]:
    """The data-set index of each sample (metainfo ``sample_idx``, mmengine's convention and what
    degplug's MMagic datasets set), else the position in the batch: the seed rule's image index."""
    indices = [getattr(sample, "metainfo", {}).get("sample_idx") if sample is not None else None for sample in samples]
    if len(indices) != count or any(index is None for index in indices):
        return list(range(count))
    return [int(index) for index in indices]


def _drop_frozen_entries(module: nn.Module, state_dict: dict, prefix: str, local_metadata: dict) -> None:
    """State-dict hook: the frozen DISTS network is rebuilt at construction, not checkpointed."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        del state_dict[key]


def _accept_degplug_udm_weights(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    """Load pre-hook: ``load_from`` a degplug UDM checkpoint (``udm.pth``: bare UniversalDegradationModel
    keys, e.g. from ``degplug convert udm-official``) fills the generator, and HDEN's weights also
    fill the MoCo query and key encoders; an editor checkpoint passes unchanged."""
    if any(key.startswith(prefix + "training_step.") for key in state_dict):
        return
    generator_keys = set(module.generator.state_dict())
    for key in [k for k in state_dict if k.startswith(prefix) and k[len(prefix):] in generator_keys]:
        name = key[len(prefix):]
        value = state_dict.pop(key)
        state_dict[prefix + GENERATOR_PREFIX + name] = value
        if name.startswith("hden."):
            for encoder in ("training_step.contrast.encoder.", "training_step.contrast.key_encoder."):
                state_dict.setdefault(prefix + encoder + name[len("hden."):], value)


def _restore_frozen_entries(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    """Load pre-hook: fill the DISTS entries a checkpoint does not carry with the current values."""
    entries = dict(module.named_parameters())
    for owner_name, owner in module.named_modules():
        for name, buffer in owner._buffers.items():
            if buffer is not None and name not in owner._non_persistent_buffers_set:
                entries[f"{owner_name}.{name}" if owner_name else name] = buffer
    for name, value in entries.items():
        state_dict.setdefault(prefix + name, value.detach())
