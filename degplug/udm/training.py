"""One UDM training step, shared by every framework adapter (docs/specification.md §1.6).

``UDMTrainingStep`` owns the training-only parts (discriminator, contrastive wrapper, losses)
around a ``UniversalDegradationModel`` and computes, for a batch, the generator-side and the
discriminator-side loss dicts, and runs one whole iteration over three optimizers
(``UDMTrainingStep.step``: gradients, checks, steps, the log). Adapters (BasicSR's UDMModel,
MMagic's editor, the ablation and report scripts) only map options, call ``step`` and log.

A batch is a dict of N×3×H×W tensors in [0, 1]:
    ``gt``    clean image x
    ``lq``    its degraded version y = d(x)
    optional ``gt_b``, ``lq_b``: another clean image with the same degradation d; when present,
        ``lq_b`` is the contrastive positive (same degradation, other content) and a transfer
        term compares f(x_b, E(y)) with y_b;
    optional ``lq_pos``: another crop of the same degraded image (the positive otherwise).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from degplug.losses import (
    ColorLoss,
    ContrastiveLoss,
    DISTSLoss,
    DiversityLoss,
    UDMLossWeights,
    gradient_penalty,
    wgan_discriminator_loss,
    wgan_generator_loss,
)
from degplug.losses.diversity import DEFAULT_DIVERSITY_C2
from degplug.losses.local_statistics import LocalStatisticsLoss
from degplug.udm.contrastive import MomentumContrast
from degplug.udm.discriminator import UDMDiscriminator
from degplug.udm.model import UniversalDegradationModel
from degplug.utils.distributed import average_gradients, broadcast_buffers, rank_and_world_size
from degplug.utils.optimizers import StepOptimizer, as_step_optimizer, parameters_of, step_optimizer
from degplug.utils.precision import MixedPrecision, float32_region, parse_amp, parse_channels_last
from degplug.utils.random import iteration_seed, make_generator
from degplug.utils.validation import NON_FINITE_ADVICE, require_finite_gradients, require_finite_losses


DEFAULT_RATE_LR = 1e-3
"""Learning rate of the rate models' parameters: the authors' ``lr_Cprs`` (their compressors
``netCprs``/``netCprs_loc`` train at 1e-3 whatever the networks' rate)."""


@dataclass
class UDMTrainingOptions:
    """Training-only settings; defaults follow docs/specification.md §1.3/§1.6 (code values).

    ``diversity_c2``: C2 of the diversity loss on [0, 1] images (the authors' 0.03, see
    ``degplug.losses.diversity.DEFAULT_DIVERSITY_C2``). ``rate_lr``: learning rate of the rate
    models' parameters (``UniversalDegradationModel.rate_parameters``), a parameter group of the
    generator's optimizer (see ``UDMTrainingStep.generator_param_groups``); None trains them at the
    generator's learning rate.

    ``rate_warmup``: for this many iterations from the start (``step``'s ``iteration`` ≤
    ``rate_warmup``) the rate terms train the rate models' densities only; no rate gradient reaches
    the encoders (``UniversalDegradationModel.encode_with_rates(detach_rate=True)``). 0 (the
    paper): the rates act from the first step. Measured on the toy half-image task (see
    ``degplug.entropy.map_rate.DEFAULT_MAP_SCALE``): with an e_l rate weight of 1e-4 to 1e-2 per
    bit per position from the first step, e_l ends 0 everywhere; a warm-up of 200 or 400 steps
    lets the map form (its rate rises while the densities alone learn) but it still collapses
    once the rate acts, so the warm-up alone does not calibrate the rate: the weight must also
    be small (about 1e-5 or less against an L1 of weight 1).

    ``map_logit_bound``: B > 0 adds ``mean(max(|z| − B, 0)²)`` (weight 1, logged ``l_map_logit``)
    over IDEN's pre-sigmoid map z, so e_l = sigmoid(z) stays off the sigmoid's flat ends, where no
    gradient reaches IDEN any more; 0 (default, the paper): off. Measured in the CPU recipe
    (options/train/UDM/train_UDM_small_embedded.yml, 600 iterations; e_l left−right difference
    on held-out half-image noise vs whole-image noise): without it the rate pushed z to −3.4 (e_l rate 2e-6; 0.008 vs
    0.002) or, with no e_l rate, z drifted to +6.6 and the map stopped telling the two apart
    (0.117 vs 0.118); with B = 3: 0.035 vs 0.003 and 0.190 vs 0.057.

    ``amp``: ``"none"`` (default, float32), ``"bf16"`` or ``"fp16"`` (autocast of the networks'
    forward passes; fp16 with a GradScaler; losses, rate models and likelihoods stay float32; see
    ``degplug.utils.precision``). ``channels_last``: the networks and their inputs in
    channels_last memory format.
    """

    weights: UDMLossWeights = field(default_factory=UDMLossWeights)
    dists_pretrained: bool = True
    vgg_path: str | None = None
    dists_weights_path: str | None = None
    transfer_weight: float = 1.0
    queue_size: int = 120
    momentum: float = 0.999
    temperature: float = 0.07
    discriminator_width: int = 64
    discriminator_conditional: bool = False
    diversity_c2: float = DEFAULT_DIVERSITY_C2
    rate_lr: float | None = DEFAULT_RATE_LR
    rate_warmup: int = 0
    map_logit_bound: float = 0.0
    amp: str = "none"
    channels_last: bool = False

    def __post_init__(self) -> None:
        self.amp = parse_amp(self.amp, "amp")
        self.channels_last = parse_channels_last(self.channels_last, "channels_last")
        if isinstance(self.rate_warmup, bool) or not isinstance(self.rate_warmup, int) or self.rate_warmup < 0:
            raise ValueError(f"rate_warmup: expected a non-negative number of iterations, got {self.rate_warmup!r}")
        try:
            bound = float(self.map_logit_bound)
        except (TypeError, ValueError):
            bound = float("nan")
        if not bound >= 0 or bound == float("inf"):
            raise ValueError(f"map_logit_bound: expected a non-negative number (0 = off), got {self.map_logit_bound!r}")
        self.map_logit_bound = bound
        for name, optional in (("rate_lr", True), ("diversity_c2", False)):
            value = getattr(self, name)
            if value is None and optional:
                continue
            try:
                number = float(value)  # YAML reads 1e-3 without a dot as a string
            except (TypeError, ValueError):
                number = float("nan")
            if not number > 0:
                raise ValueError(f"{name}: expected a positive number{' or None' if optional else ''}, got {value!r}")
            setattr(self, name, number)

    @classmethod
    def from_dict(cls, values: dict) -> "UDMTrainingOptions":
        values = dict(values)
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown UDM training option(s) {unknown}; known: {sorted(known)}")
        if isinstance(values.get("weights"), dict):
            values["weights"] = UDMLossWeights.from_dict(values["weights"])
        return cls(**values)


@dataclass
class UDMOptimizers:
    """The three optimizers of a UDM iteration, each a torch optimizer or a ``StepOptimizer``
    (e.g. mmengine's ``OptimWrapper``; see ``degplug.utils.optimizers``):

    ``generator``      ``UDMTrainingStep.generator_param_groups()`` (encoders, rate models, synthesis)
    ``entropy``        ``parameter_groups()["aux"]`` (the entropy models' quantiles)
    ``discriminator``  ``parameter_groups()["discriminator"]``; needed only when the GAN weight is > 0
    """

    generator: StepOptimizer
    entropy: StepOptimizer
    discriminator: StepOptimizer | None = None

    def __post_init__(self) -> None:
        self.generator = as_step_optimizer(self.generator, "optimizers.generator")
        self.entropy = as_step_optimizer(self.entropy, "optimizers.entropy")
        if self.discriminator is not None:
            self.discriminator = as_step_optimizer(self.discriminator, "optimizers.discriminator")


class UDMTrainingStep(nn.Module):
    """Loss computation for UDM training; holds the discriminator and the contrastive wrapper."""

    def __init__(
        self,
        model: UniversalDegradationModel,
        options: UDMTrainingOptions | None = None,
        discriminator: nn.Module | None = None,
    ) -> None:
        """``discriminator`` (a critic ``(image, clean=None) -> N scores``) replaces the default
        ``UDMDiscriminator``; it is used only when the GAN weight is positive."""
        super().__init__()
        self.options = options or UDMTrainingOptions()
        w = self.options.weights
        self.model = model
        self.contrast = MomentumContrast(
            model.hden, dim=model.config.embed_dim, queue_size=self.options.queue_size,
            momentum=self.options.momentum, temperature=self.options.temperature,
        )
        if w.gan <= 0:
            discriminator = None
        elif discriminator is None:
            discriminator = UDMDiscriminator(
                width=self.options.discriminator_width, conditional=self.options.discriminator_conditional
            )
        self.discriminator = discriminator
        # DISTS needs a VGG16: built only when its weight is positive.
        self.similarity = (
            DISTSLoss(
                pretrained=self.options.dists_pretrained, vgg_path=self.options.vgg_path,
                dists_weights_path=self.options.dists_weights_path,
            ).requires_grad_(False)
            if w.similarity > 0 else None
        )
        self.local_statistics = LocalStatisticsLoss()
        self.color = ColorLoss()
        self.diversity = DiversityLoss(c2=self.options.diversity_c2)
        self.contrastive = ContrastiveLoss()
        self._warned_no_positive = False
        self.precision = MixedPrecision(self.options.amp, self.options.channels_last)
        self.precision.format_module(self)

    # ------------------------------------------------------------ parameters
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Disjoint groups covering every trainable parameter: main, auxiliary (entropy), discriminator."""
        groups = {"main": self.model.main_parameters(), "aux": self.model.aux_parameters()}
        groups["discriminator"] = list(self.discriminator.parameters()) if self.discriminator is not None else []
        return groups

    def generator_param_groups(self) -> list[dict]:
        """The ``main`` group as optimizer parameter groups, for the generator's optimizer.

        ``[{"name": "networks", "params": encoders + synthesis}, {"name": "rate", "params":
        rate models, "lr": options.rate_lr}]``; one group (``"main"``, the optimizer's own lr) when
        ``rate_lr`` is None. Together they hold exactly ``parameter_groups()["main"]``.
        """
        main = self.model.main_parameters()
        if self.options.rate_lr is None:
            return [{"name": "main", "params": main}]
        rate_ids = {id(p) for p in self.model.rate_parameters()}
        groups = [
            {"name": "networks", "params": [p for p in main if id(p) not in rate_ids]},
            {"name": "rate", "params": [p for p in main if id(p) in rate_ids], "lr": float(self.options.rate_lr)},
        ]
        return [group for group in groups if group["params"]]

    # -------------------------------------------------------------- helpers
    def _critic(self, image: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        return self.discriminator(image, clean if self.options.discriminator_conditional else None)

    def _similarity(self, predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """λ_sim·DISTS + λ_l1·L1 (+ λ_local_stats·local statistics), the weighted similarity of
        docs/specification.md §1.6 (weights applied here)."""
        w = self.options.weights
        total = predicted.new_zeros((), dtype=torch.float32)
        if self.similarity is not None:  # a network (VGG): under the step's autocast, its score in float32
            total = total + w.similarity * self.similarity(predicted, target).float()
        with float32_region(predicted.device):
            predicted, target = predicted.float(), target.float()
            if w.l1 > 0:
                total = total + w.l1 * F.l1_loss(predicted, target)
            if w.local_stats > 0:
                total = total + w.local_stats * self.local_statistics(predicted, target)
        return total

    # ----------------------------------------------------------- generator
    def generator_losses(
        self, batch: dict[str, torch.Tensor], generator: torch.Generator | None = None, iteration: int | None = None
    ) -> dict:
        """Generator/encoder losses for ``batch``; ``loss`` is the weighted total.

        ``iteration`` (from 1) decides the rate warm-up (``options.rate_warmup``); None: after it.

        Also returns ``aux_loss`` (entropy quantiles, for their own optimizer, not in ``loss``),
        ``output`` (ŷ, detached) and ``bits_g``/``bpp_l`` for logging.

        With ``options.amp`` the networks run under autocast (``self.precision``); every loss
        term, ``loss`` and ``aux_loss`` are float32. ``aux_loss`` reaches only the quantiles and
        ``loss`` never does, so the two can be backpropagated separately (``aux_loss`` unscaled).
        """
        batch = {key: self.precision.format_input(value) for key, value in batch.items()}
        with self.precision.autocast(batch["gt"].device):
            return self._generator_losses(batch, generator, iteration)

    def _generator_losses(self, batch: dict[str, torch.Tensor], generator: torch.Generator | None, iteration: int | None) -> dict:
        w = self.options.weights
        clean, degraded = batch["gt"], batch["lq"]
        generator = generator if generator is not None else make_generator(device=clean.device)
        positive = batch.get("lq_b", batch.get("lq_pos"))
        terms: dict[str, torch.Tensor] = {}

        global_vector = None
        if positive is None and w.contrastive > 0 and not self._warned_no_positive:
            self._warned_no_positive = True
            warnings.warn(
                f"UDM training: the contrastive weight is {w.contrastive:g} but the batch has no positive "
                "(neither 'lq_b' nor 'lq_pos'), so the contrastive term is off. Use DegplugTransferTupleDataset, "
                "or positive_crop: true on DegplugPairedFolderDataset / DegplugSyntheticPairDataset "
                "(a second crop of the same degraded image), or set the contrastive weight to 0.",
                stacklevel=2,
            )
        if positive is not None and w.contrastive > 0:
            contrast = self.contrast(degraded, positive)
            global_vector = contrast.query_embedding
            terms["contrastive"] = self.contrastive(contrast.logits, contrast.labels)
        warming_up = iteration is not None and iteration <= self.options.rate_warmup
        embedding, bits_g, bpp_l, map_logits = self.model.encode_with_rates_and_logits(
            degraded, global_vector=global_vector, generator=generator, detach_rate=warming_up
        )
        if not all(bool(torch.isfinite(t).all()) for t in (embedding.global_vector, embedding.local_map) if t is not None):
            # diverged encoder weights (e.g. a too-large learning rate): stop here, named, before synthesis
            raise FloatingPointError("the encoders' degradation embedding is not finite (their weights have diverged)")
        terms["rate_g"] = bits_g.mean()
        terms["rate_l"] = bpp_l.mean()

        output = self.model.synthesize_unclamped(clean, embedding, generator)
        terms["similarity"] = self._similarity(output, degraded)
        if w.color > 0:
            with float32_region(output.device):
                terms["color"] = self.color(output.float(), degraded.float())
        if w.diversity > 0:
            second = self.model.synthesize_unclamped(clean, embedding, generator)
            with float32_region(output.device):
                terms["diversity"] = self.diversity(output.float(), second.float())
        if "gt_b" in batch and "lq_b" in batch and self.options.transfer_weight > 0:
            transferred = self.model.synthesize_unclamped(batch["gt_b"], embedding, generator)
            terms["transfer"] = self._similarity(transferred, batch["lq_b"])  # already weighted like similarity
        if self.discriminator is not None:
            terms["gan"] = wgan_generator_loss(self._critic(output, clean).float())
        bound = self.options.map_logit_bound
        if bound > 0 and map_logits is not None:
            terms["map_logit"] = (map_logits.float().abs() - bound).clamp(min=0).pow(2).mean()

        weight_of = {
            "contrastive": w.contrastive, "rate_g": w.rate_g, "rate_l": w.rate_l, "similarity": 1.0,
            "color": w.color, "diversity": w.diversity, "transfer": self.options.transfer_weight, "gan": w.gan,
            "map_logit": 1.0,
        }
        terms = {name: value.float() for name, value in terms.items()}
        total = sum(weight_of[name] * value for name, value in terms.items())
        result = {f"l_{name}": value.detach() for name, value in terms.items()}
        with float32_region(output.device):
            aux_loss = w.entropy_aux * self.model.aux_loss().float()
        result.update(
            loss=total,
            aux_loss=aux_loss,
            output=output.detach().float(),
            bits_g=bits_g.detach(),
            bpp_l=bpp_l.detach(),
        )
        return result

    # ------------------------------------------------------- discriminator
    def discriminator_losses(
        self, batch: dict[str, torch.Tensor], fake: torch.Tensor, generator: torch.Generator | None = None
    ) -> dict:
        """WGAN-GP critic loss on real ``lq`` against a detached fake ``fake`` (ŷ)."""
        if self.discriminator is None:
            raise ValueError("discriminator_losses called but the GAN weight is 0 (no discriminator)")
        format_input = self.precision.format_input
        clean, real = format_input(batch["gt"]), format_input(batch["lq"])
        fake = format_input(fake.detach())
        conditional_clean = clean if self.options.discriminator_conditional else None
        with self.precision.autocast(real.device):
            real_scores = self._critic(real, clean).float()
            fake_scores = self._critic(fake, clean).float()
        critic = wgan_discriminator_loss(real_scores, fake_scores)
        # a double backward, run in float32 whatever the step's amp (gradient_penalty disables autocast)
        penalty = gradient_penalty(self.discriminator, real, fake, clean=conditional_clean, generator=generator)
        return {
            "loss": critic + self.options.weights.gp * penalty,
            "l_critic": critic.detach(),
            "l_gradient_penalty": penalty.detach(),
            "real_score": real_scores.detach().mean(),
            "fake_score": fake_scores.detach().mean(),
        }

    # ------------------------------------------------------------ iteration
    def step(
        self,
        batch: dict[str, torch.Tensor],
        iteration: int,
        optimizers: UDMOptimizers,
        seed: int = 0,
        rank: int | None = None,
    ) -> dict[str, torch.Tensor]:
        """One whole UDM training iteration; returns its log (detached float32 scalars).

        ``iteration`` counts from 1; the iteration's generator (synthesis noise, gradient-penalty
        mixing) is seeded with ``iteration_seed(seed, rank, iteration)``
        (``degplug.utils.random``); ``rank`` defaults to the ``torch.distributed`` rank (0 in one
        process).

        Order: the critic frozen, the generator and entropy losses, their gradients (the total
        scaled for fp16, the float32 entropy loss never), averaged over the ranks; then, when
        there is a critic (GAN weight > 0), its WGAN-GP loss on the detached ŷ and its gradients.
        Every loss and gradient is checked finite before the first optimizer steps
        (FloatingPointError naming the iteration and the terms; with fp16 the scaled gradients
        are left to the scaler, which skips an overflowed step and lowers its scale). Then the
        generator, entropy and critic optimizers step (``step_optimizer``: their own clipping),
        the loss scale is updated, gradients are zeroed and rank 0's buffers (BatchNorm
        statistics, the MoCo queue) are copied to every rank.

        Log keys: the generator's ``l_*`` terms, ``l_total``, ``l_aux``, ``bits_g``, ``bpp_l``
        and, with a critic, ``d_l_critic``, ``d_l_gradient_penalty``, ``d_real_score``,
        ``d_fake_score``.
        """
        if not isinstance(optimizers, UDMOptimizers):
            raise TypeError(f"UDMTrainingStep.step: optimizers must be UDMOptimizers, got {type(optimizers).__name__}")
        critic = self.discriminator
        if critic is not None and optimizers.discriminator is None:
            raise ValueError(
                f"optimizers.discriminator: the GAN weight is {self.options.weights.gan:g}, so the critic needs an optimizer"
            )
        if rank is None:
            rank = rank_and_world_size()[0]
        generator = make_generator(iteration_seed(seed, rank, iteration), device=batch["gt"].device)
        precision = self.precision  # amp none: plain backward and steps
        main, aux = optimizers.generator, optimizers.entropy
        if critic is not None:
            critic.requires_grad_(False)
        main.zero_grad()
        aux.zero_grad()
        with main.optim_context(self):
            try:
                out = self.generator_losses(batch, generator, iteration)
            except FloatingPointError as error:  # diverged weights, found before the loss could be computed
                raise FloatingPointError(
                    f"UDM loss is not finite at iteration {iteration} ({error}); {NON_FINITE_ADVICE}"
                ) from None
        require_finite_losses(out, "UDM", iteration)  # every check comes before the first step
        main.backward(precision.scale(out["loss"]))  # scaled for fp16
        aux.backward(out["aux_loss"])  # float32, reaches only the quantiles: never scaled
        generator_parameters = parameters_of(main, aux)
        average_gradients(generator_parameters)  # distributed: mean over the ranks (no-op in one process)
        precision.unscale_(main.optimizer)
        # fp16: non-finite generator gradients are an overflow the scaler skips (and lowers its scale)
        require_finite_gradients(parameters_of(aux) if precision.scales_loss else generator_parameters, "UDM", iteration)
        log = {k: v for k, v in out.items() if k.startswith("l_")}
        log.update(l_total=out["loss"].detach(), l_aux=out["aux_loss"].detach(),
                   bits_g=out["bits_g"].mean(), bpp_l=out["bpp_l"].mean())

        if critic is not None:
            # The critic's loss and gradients are computed (and checked) before any optimizer steps:
            # its fake is the detached ŷ, so the generator step would not change them.
            critic_optimizer = optimizers.discriminator
            critic.requires_grad_(True)
            critic_optimizer.zero_grad()
            with critic_optimizer.optim_context(critic):
                critic_out = self.discriminator_losses(batch, out["output"], generator)
            require_finite_losses(
                {"loss": critic_out["loss"], **{f"l_d_{k}": v for k, v in critic_out.items() if k != "loss"}},
                "UDM critic", iteration,
            )
            critic_optimizer.backward(precision.scale(critic_out["loss"]))
            critic_parameters = parameters_of(critic_optimizer)
            average_gradients(critic_parameters)
            precision.unscale_(critic_optimizer.optimizer)
            if not precision.scales_loss:
                require_finite_gradients(critic_parameters, "UDM critic", iteration)
            log.update({f"d_{k}": v for k, v in critic_out.items() if k != "loss"})
        step_optimizer(main, precision)
        aux.step()  # its loss is not scaled
        if critic is not None:
            step_optimizer(critic_optimizer, precision)
        precision.update()
        main.zero_grad()
        aux.zero_grad()
        if critic is not None:
            critic_optimizer.zero_grad()
        broadcast_buffers(self)  # distributed: BatchNorm statistics and queues from rank 0, as DDP does
        return {k: v.detach().float() for k, v in log.items()}
