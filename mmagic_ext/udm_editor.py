"""UDMEditor: UDM training and evaluation as an mmengine ``BaseModel`` for MMagic configs.

The loss math is ``degplug.udm.training.UDMTrainingStep``; this class only moves data, calls
``backward`` and steps the three optimizers of an ``OptimWrapperDict`` (built by
``UDMOptimWrapperConstructor`` from ``UDMTrainingStep.parameter_groups()``):

    ``generator``      encoders, rate models and synthesis network (group ``main``)
    ``entropy``        the rate models' quantiles, trained only by the auxiliary loss (group ``aux``)
    ``discriminator``  the WGAN-GP critic (only when ``training.weights.gan > 0``)

Config::

    model = dict(
        type='UDMEditor',
        generator=dict(type='UniversalDegradationModel', embed_dim=256, ...),   # UDMConfig keys
        discriminator=dict(type='UDMDiscriminator', width=64),                  # optional
        training=dict(weights=dict(...), dists_pretrained=True, ...),           # UDMTrainingOptions
        data_preprocessor=dict(type='UDMDataPreprocessor'),
        seed=0)

Per-iteration randomness (synthesis noise, gradient-penalty mixing) comes from a generator seeded
with ``seed * 1_000_003 + rank + iteration`` (iteration counted from 1), as BasicSR's ``UDMModel``,
so the same seed gives the same run in both frameworks. Evaluation uses ``eval_seed``.

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

from degplug.udm.model import UniversalDegradationModel
from degplug.udm.training import UDMTrainingOptions, UDMTrainingStep
from degplug.utils.distributed import average_gradients, broadcast_buffers
from degplug.utils.random import make_generator
from degplug.utils.validation import NON_FINITE_ADVICE, require_finite_gradients, require_finite_losses
from mmagic_ext.data_preprocessor import UDMDataPreprocessor
from mmagic_ext.editor_base import DegplugEditor, refuse_amp_wrappers, step_wrapper

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
        preprocessor = _build(data_preprocessor, "data_preprocessor") or UDMDataPreprocessor()
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
    def _rank(self) -> int:
        from mmengine.dist import get_rank

        return get_rank()

    def train_step(self, data: dict, optim_wrapper: OptimWrapperDict) -> dict[str, torch.Tensor]:
        """One UDM iteration: generator + entropy losses and gradients, the critic's (when there is a
        critic), every one checked finite, then the steps."""
        batch = self.data_preprocessor(data, True)["inputs"]
        iteration = self._iteration()
        generator = make_generator(self.seed * 1_000_003 + self._rank() + iteration, device=batch["gt"].device)
        refuse_amp_wrappers(optim_wrapper, "UDMEditor")
        precision = self.training_step.precision  # amp none: plain backward and steps
        main, aux = optim_wrapper["generator"], optim_wrapper["entropy"]
        critic = self.discriminator
        if critic is not None:
            critic.requires_grad_(False)
        with main.optim_context(self):
            try:
                out = self.training_step.generator_losses(batch, generator)
            except FloatingPointError as error:  # diverged weights, found before the loss could be computed
                raise FloatingPointError(f"UDM loss is not finite at iteration {iteration} ({error}); {NON_FINITE_ADVICE}") from None
        require_finite_losses(out, "UDM", iteration)  # every check comes before the first step
        main.zero_grad()
        aux.zero_grad()
        main.backward(precision.scale(out["loss"]))  # scaled for fp16
        aux.backward(out["aux_loss"])  # float32, reaches only the quantiles: never scaled
        average_gradients(_parameters_of(main, aux))  # distributed: mean over the ranks (no-op in one process)
        precision.unscale_(main.optimizer)
        # fp16: non-finite generator gradients are an overflow the scaler skips (and lowers its scale)
        require_finite_gradients(_parameters_of(aux) if precision.scales_loss else _parameters_of(main, aux), "UDM", iteration)
        log = {k: v for k, v in out.items() if k.startswith("l_")}
        log.update(l_total=out["loss"].detach(), l_aux=out["aux_loss"].detach(),
                   bits_g=out["bits_g"].mean(), bpp_l=out["bpp_l"].mean())

        if critic is not None:
            # The critic's loss and gradients are computed (and checked) before any optimizer steps:
            # its fake is the detached ŷ, so the generator step would not change them.
            critic.requires_grad_(True)
            critic_wrapper = optim_wrapper["discriminator"]
            with critic_wrapper.optim_context(critic):
                critic_out = self.training_step.discriminator_losses(batch, out["output"], generator)
            require_finite_losses({"loss": critic_out["loss"], **{f"l_d_{k}": v for k, v in critic_out.items() if k != "loss"}},
                                  "UDM critic", iteration)
            critic_wrapper.zero_grad()
            critic_wrapper.backward(precision.scale(critic_out["loss"]))
            average_gradients(_parameters_of(critic_wrapper))
            precision.unscale_(critic_wrapper.optimizer)
            if not precision.scales_loss:
                require_finite_gradients(_parameters_of(critic_wrapper), "UDM critic", iteration)
            log.update({f"d_{k}": v for k, v in critic_out.items() if k != "loss"})
        step_wrapper(main, precision)
        aux.step()  # its loss is not scaled
        main.zero_grad()
        aux.zero_grad()
        if critic is not None:
            step_wrapper(critic_wrapper, precision)
            critic_wrapper.zero_grad()
        precision.update()
        broadcast_buffers(self.training_step)  # distributed: BatchNorm statistics and queues from rank 0, as DDP does
        return {k: v.detach().float() for k, v in log.items()}

    # --------------------------------------------------------------- inference
    @torch.no_grad()
    def predict(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Reproduction ``output`` = f(gt, E(lq)) and, with ``gt_b``, ``transfer`` = f(gt_b, E(lq)).

        Inputs and outputs are N×3×H×W in [0, 1]; noise from ``eval_seed``.
        """
        model = self.generator
        was_training = model.training
        model.eval()
        try:
            embedding = model.encode(batch["lq"])
            result = {"output": model.synthesize(batch["gt"], embedding, seed=self.eval_seed)}
            if "gt_b" in batch:
                result["transfer"] = model.synthesize(batch["gt_b"], embedding, seed=self.eval_seed)
        finally:
            model.train(was_training)
        return result

    def _data_samples(self, data: dict) -> list:
        from mmagic.structures import DataSample

        processed = self.data_preprocessor(data, False)
        batch, samples = processed["inputs"], processed["data_samples"]
        predictions = self.predict(batch)
        count = batch["gt"].shape[0]
        samples = list(samples) if samples is not None else [DataSample() for _ in range(count)]
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


def _parameters_of(*wrappers) -> list[torch.Tensor]:
    """Every parameter stepped by these optim wrappers."""
    return [p for wrapper in wrappers for group in wrapper.optimizer.param_groups for p in group["params"]]


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
