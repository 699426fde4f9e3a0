"""UniversalDegradationModel: encode a degradation from one image, apply it to any clean image.

``ŷ = f(x, e_g, e_l, n)`` (docs/specification.md §1): HDEN gives ``e_g``, IDEN gives ``e_l``, both pass through
their rate models (rounded at evaluation, noisy during training), and the IDA-SFT synthesis
network applies them to the clean image ``x`` with a random state ``n`` drawn from a generator.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from degplug.entropy.global_rate import GlobalRateModel
from degplug.entropy.map_rate import MapRateModel
from degplug.nn.ida_sft import NoiseSource
from degplug.udm.config import UDMConfig
from degplug.udm.embedding import DegradationEmbedding
from degplug.udm.hden import HomogeneousEncoder
from degplug.udm.iden import InhomogeneousEncoder
from degplug.udm.synthesis import DegradationSynthesisNet
from degplug.utils.random import make_generator
from degplug.utils.validation import check_image
from degplug import checkpoints
from degplug.checkpoints import UDM_KIND as CHECKPOINT_KIND
from degplug.checkpoints import UDM_VERSION as CHECKPOINT_VERSION

#: where the generator's weights sit inside an MMagic ``UDMEditor`` checkpoint's ``state_dict``
MMAGIC_PREFIX = checkpoints.MMAGIC_PREFIXES[CHECKPOINT_KIND]
#: options whose default changed after checkpoints without them were written: such a checkpoint
#: was trained with these values
LEGACY_CONFIG_VALUES = {"global_input_scale": 0.0}
MIN_SIZE = 8


class UniversalDegradationModel(nn.Module):
    """Encoders, rate models and synthesis network of UDM.

    Public tensors are N×3×H×W RGB in [0, 1]. Sizes come from ``UDMConfig`` (keyword arguments
    here are forwarded to it), so ``UniversalDegradationModel()`` is the paper's model and
    ``UniversalDegradationModel(**UDMConfig.small().to_dict())`` the CPU demo variant.
    """

    def __init__(self, **config) -> None:
        super().__init__()
        self.config = UDMConfig.from_dict(config)
        c = self.config
        if c.architecture == "official":  # the UDM authors' released layout (degplug.udm.official_layers)
            from degplug.udm.official_layers import build_official_parts

            self.hden, self.rate_g, self.iden, self.rate_l, self.synthesis = build_official_parts(c)
            return
        self.hden = HomogeneousEncoder(width=c.encoder_width, embed_dim=c.embed_dim, long_kernel=c.long_kernel,
                                       highpass_gain=c.encoder_highpass_gain)
        self.rate_g = GlobalRateModel(dim=c.embed_dim, hidden=c.rate_hidden, input_scale=c.global_input_scale)
        if c.map_channels > 0:
            self.iden = InhomogeneousEncoder(width=c.encoder_width, map_channels=c.map_channels,
                                             long_kernel=c.iden_long_kernel or c.long_kernel,
                                             highpass_gain=c.encoder_highpass_gain)
            self.rate_l = MapRateModel(channels=c.map_channels, compress=c.map_rate_compress,
                                       code_channels=c.map_code_channels, scale=c.map_scale)
        else:
            self.iden = None
            self.rate_l = None
        self.synthesis = DegradationSynthesisNet(
            width=c.synthesis_width,
            blocks=c.synthesis_blocks,
            embed_dim=c.embed_dim,
            map_channels=c.map_channels,
            cond_channels=c.cond_channels,
            use_ida=c.use_ida,
            depthwise=c.depthwise_ida,
        )

    # ---------------------------------------------------------------- encoding
    def encode_with_rates(
        self,
        degraded: torch.Tensor,
        global_vector: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        detach_rate: bool = False,
    ) -> tuple[DegradationEmbedding, torch.Tensor, torch.Tensor]:
        """Encode ``degraded`` (N×3×H×W in [0, 1]) and return the embedding with its rates.

        ``global_vector`` may carry an ``e_g`` already computed by HDEN (the contrastive wrapper
        computes it for its query) so the encoder does not run twice. ``generator`` drives the
        rate models' training noise (additive uniform), so a seeded training step is reproducible. Returns
        ``(embedding, bits_g N, bits_per_pixel_l N)``; the rate of a missing IDEN is zero.
        ``detach_rate``: the rates train the rate models' densities only, no rate gradient reaches
        the encoders (the rate warm-up of training, ``UDMTrainingOptions.rate_warmup``).

        Under autocast (mixed-precision training) the encoders follow it; the rate models run in
        float32 with autocast off, so the embedding and the rates are float32.
        """
        return self.encode_with_rates_and_logits(degraded, global_vector, generator, detach_rate)[:3]

    def encode_with_rates_and_logits(
        self,
        degraded: torch.Tensor,
        global_vector: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        detach_rate: bool = False,
    ) -> tuple[DegradationEmbedding, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``encode_with_rates`` plus IDEN's map before its sigmoid (N×C_l×h×w; None without IDEN),
        which training may keep out of the sigmoid's flat ends (``UDMTrainingOptions.map_logit_bound``)."""
        check_image("degraded", degraded, min_size=MIN_SIZE)
        if global_vector is None:
            global_vector = self.hden(degraded)
        with torch.autocast(device_type=degraded.device.type, enabled=False):
            e_g, bits_g = self.rate_g(global_vector.float(), generator=generator, detach_rate=detach_rate)
        if self.iden is not None:
            map_logits = self.iden.logits(degraded)
            local_map = torch.sigmoid(map_logits)
            with torch.autocast(device_type=degraded.device.type, enabled=False):
                e_l, bpp_l = self.rate_l(local_map.float(), generator=generator, detach_rate=detach_rate)
        else:
            map_logits, e_l, bpp_l = None, None, torch.zeros_like(bits_g)
        return DegradationEmbedding(e_g, e_l), bits_g, bpp_l, map_logits

    def encode(self, degraded: torch.Tensor) -> DegradationEmbedding:
        """``E(y)``: the degradation embedding of ``degraded`` (N×3×H×W in [0, 1])."""
        return self.encode_with_rates(degraded)[0]

    # --------------------------------------------------------------- synthesis
    def synthesize_unclamped(
        self,
        clean: torch.Tensor,
        embedding: DegradationEmbedding,
        generator: torch.Generator,
        noise_source: NoiseSource | None = None,
    ) -> torch.Tensor:
        """The raw synthesis output for losses (not clamped to [0, 1])."""
        if len(embedding) not in (1, clean.shape[0]):
            raise ValueError(f"embedding has {len(embedding)} entries for {clean.shape[0]} clean images")
        global_vector, local_map = embedding.global_vector, embedding.local_map
        if len(embedding) == 1 and clean.shape[0] > 1:
            global_vector = global_vector.expand(clean.shape[0], -1)
            local_map = local_map.expand(clean.shape[0], -1, -1, -1) if local_map is not None else None
        return self.synthesis(clean, global_vector, local_map, generator=generator, noise_source=noise_source)

    def synthesize(
        self,
        clean: torch.Tensor,
        embedding: DegradationEmbedding,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        noise_source: NoiseSource | None = None,
    ) -> torch.Tensor:
        """Apply ``embedding`` to ``clean`` (N×3×H×W in [0, 1]); returns N×3×H×W in [0, 1].

        The same seed gives the same output; different seeds give different realisations of the
        same degradation. An embedding of one entry is applied to every image of the batch.
        ``noise_source`` (see ``degplug.nn.ida_sft.NoiseSource``) replaces the seeded random state,
        e.g. with temporally correlated maps for video (``degplug.udm.video``).
        """
        check_image("clean", clean, min_size=MIN_SIZE)
        generator = make_generator(seed, generator, device=clean.device)
        embedding = embedding.to(clean.device)
        return self.synthesize_unclamped(clean, embedding, generator, noise_source).clamp(0.0, 1.0)

    def transfer(
        self, clean: torch.Tensor, reference: torch.Tensor, seed: int | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Give ``clean`` the degradation of ``reference`` (a degraded image of any content or size)."""
        return self.synthesize(clean, self.encode(reference), seed=seed, generator=generator)

    def reproduce(
        self, degraded: torch.Tensor, clean: torch.Tensor, seed: int | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Re-synthesize ``degraded`` from its own clean version ``clean``."""
        return self.transfer(clean, degraded, seed=seed, generator=generator)

    def sample(self, clean: torch.Tensor, embedding: DegradationEmbedding, seeds: list[int]) -> list[torch.Tensor]:
        """Several realisations of one degradation: one output per seed."""
        if not seeds:
            raise ValueError("sample needs at least one seed")
        return [self.synthesize(clean, embedding, seed=seed) for seed in seeds]

    def forward(self, clean: torch.Tensor, degraded: torch.Tensor, seed: int | None = None) -> torch.Tensor:
        """``transfer(clean, degraded)``: lets the model be called like any image-to-image network."""
        return self.transfer(clean, degraded, seed=seed)

    # -------------------------------------------------------------- parameters
    def aux_parameters(self) -> list[nn.Parameter]:
        """The rate models' quantile parameters, trained only by the auxiliary loss."""
        params = list(self.rate_g.aux_parameters())
        if self.rate_l is not None:
            params += list(self.rate_l.aux_parameters())
        return params

    def main_parameters(self) -> list[nn.Parameter]:
        """Every trainable parameter that is not an auxiliary one."""
        aux = {id(p) for p in self.aux_parameters()}
        return [p for p in self.parameters() if id(p) not in aux and p.requires_grad]

    def rate_parameters(self) -> list[nn.Parameter]:
        """The rate models' own trainable parameters (densities, MLP head/tail, map compressor),
        quantiles excluded: a subset of ``main_parameters()`` that the authors train at its own
        learning rate (their ``lr_Cprs`` = 1e-3, see ``UDMTrainingStep.generator_param_groups``)."""
        params = list(self.rate_g.main_parameters())
        if self.rate_l is not None:
            params += list(self.rate_l.main_parameters())
        return [p for p in params if p.requires_grad]

    def aux_loss(self) -> torch.Tensor:
        """The rate models' quantile losses (float32, autocast off)."""
        with torch.autocast(device_type=next(self.parameters()).device.type, enabled=False):
            loss = self.rate_g.aux_loss()
            if self.rate_l is not None:
                loss = loss + self.rate_l.aux_loss()
        return loss

    # ------------------------------------------------------------- checkpoints
    def checkpoint_state(self) -> dict:
        """A dict of tensors and plain values (loadable with ``weights_only=True``)."""
        return {
            "kind": CHECKPOINT_KIND,
            "version": CHECKPOINT_VERSION,
            "config": self.config.to_dict(),
            "state_dict": checkpoints.detached_state_dict(self),
        }

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write :meth:`checkpoint_state` to ``path`` atomically (never a half-written checkpoint)."""
        return checkpoints.save(self.checkpoint_state(), path)

    def save_as(self, path: str | Path, layout: str = "degplug") -> Path:
        """Write the model for degplug (:meth:`save_checkpoint`), BasicSR (``{'params': ...}``, for
        ``path.pretrain_network_g``) or MMagic (``state_dict['training_step.model.<key>']`` and the
        config in ``meta['udm_config']``, for ``load_from`` / ``mim test --checkpoint``)."""
        if layout == "degplug":
            return self.save_checkpoint(path)
        meta = {"udm_config": self.config.to_dict()}
        return checkpoints.save_framework_file(checkpoints.detached_state_dict(self), path, layout, CHECKPOINT_KIND, meta)

    @classmethod
    def from_checkpoint_state(cls, state: dict, source: str = "checkpoint") -> "UniversalDegradationModel":
        checkpoints.check_kind(state, source, CHECKPOINT_KIND)
        config, weights = state.get("config"), state.get("state_dict")
        if not isinstance(config, dict) or not isinstance(weights, dict):
            raise ValueError(f"{source}: a UDM checkpoint needs a 'config' dict and a 'state_dict' dict")
        return cls.from_weights(weights, config, source)

    @classmethod
    def from_weights(cls, weights: dict, config: dict, source: str = "weights") -> "UniversalDegradationModel":
        """A model of ``config`` (UDMConfig keys; a ``type`` key is ignored) holding ``weights`` (strict)."""
        config = {**LEGACY_CONFIG_VALUES, **{k: v for k, v in dict(config).items() if k != "type"}}
        try:
            model = cls(**config)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{source}: invalid UDM config in the checkpoint: {error}") from error
        # The entropy bottleneck's CDF tables are buffers whose size depends on training.
        checkpoints.load_weights_into(model, weights, source, "UDM", resize_buffers=True)
        return model

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, map_location: str | torch.device = "cpu", config: dict | None = None,
        param_key: str | None = None, allowed_globals=(),
    ) -> "UniversalDegradationModel":
        """Load a UDM checkpoint: degplug's ``udm_<iter>.pth`` (``save_checkpoint``, training), or a
        framework file (:func:`read_udm_file`: BasicSR ``net_g``, MMagic ``iter_<n>.pth``, bare).

        ``path`` may also be the short name of a model shipped with degplug (``"small"``, see
        ``degplug.models``). ``config`` (UDMConfig keys) is needed for a file that carries none
        (BasicSR's ``net_g``, a bare state dict); with a degplug file it must be None."""
        from degplug.models import resolve_udm_checkpoint

        path = resolve_udm_checkpoint(path)
        state = checkpoints.load(path, "UDM checkpoint", map_location, allowed_globals)  # corrupt, foreign or code-carrying: refused
        layout = checkpoints.file_format(state)
        if layout in ("degplug", "unknown"):
            if config is not None:
                raise ValueError(f"{path}: a degplug UDM checkpoint carries its own config; pass no config")
            return cls.from_checkpoint_state(state, source=str(path))
        weights, stored = udm_weights_of(state, path, param_key)
        config = config if config is not None else stored  # an explicit config wins over meta['udm_config']
        if config is None:
            raise checkpoints.CheckpointKindError(
                f"{path}: not a degplug UDM checkpoint ({checkpoints.describe_format(state)}): the file carries no "
                "degplug UDM config (an mmengine checkpoint's meta['cfg'] Python text is not executed); pass config= "
                "(--config: the MMagic config or BasicSR options it was trained with, e.g. "
                "`degplug convert udm-framework SRC --out udm.pth --to degplug --config OPT.yml`)"
            )
        return cls.from_weights(weights, config, str(path))


def udm_weights_of(state, path: str | Path, param_key: str | None = None) -> tuple[dict, dict | None]:
    """``(UniversalDegradationModel state dict, its UDMConfig dict or None)`` of a loaded file.

    degplug ``udm_<iter>.pth`` (config stored), BasicSR ``net_g`` (``params``/``params_ema``, no
    config), MMagic ``UDMEditor`` checkpoint (``state_dict['training_step.model.<key>']``, config in
    degplug's ``meta['udm_config']`` when the export hook wrote it) or a bare state dict.
    """
    layout = checkpoints.file_format(state)
    if layout == "degplug" or layout == "unknown":
        checkpoints.check_kind(state, path, CHECKPOINT_KIND)
        if param_key is not None:
            raise ValueError(f"{path}: param_key {param_key!r} given, but this is a degplug UDM checkpoint")
        return dict(state["state_dict"]), dict(state["config"])
    weights = checkpoints.unwrap_state_dict(state, path, MMAGIC_PREFIX, param_key, what="UDMEditor generator weights")
    stored = None
    if layout == "mmagic":
        meta = state.get("meta")
        stored = meta.get("udm_config") if isinstance(meta, dict) else None
        stored = dict(stored) if isinstance(stored, dict) else None
    return weights, stored


def read_udm_file(
    path: str | Path, param_key: str | None = None, allowed_globals=(), map_location: str | torch.device = "cpu",
) -> tuple[dict, dict | None]:
    """:func:`udm_weights_of` a file read with ``weights_only=True`` (``allowed_globals``: an
    explicit allowlist, e.g. the mmagic adapter's message-hub types for mmengine ``iter_<n>.pth``)."""
    return udm_weights_of(checkpoints.load(path, "UDM checkpoint", map_location, allowed_globals), path, param_key)


#: kept for callers of the earlier private name
_resize_buffers_to = checkpoints.resize_buffers_to
