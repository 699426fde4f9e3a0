"""UniversalDegradationModel: encode a degradation from one image, apply it to any clean image.

``ŷ = f(x, e_g, e_l, n)`` (SPEC §1): HDEN gives ``e_g``, IDEN gives ``e_l``, both pass through
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
from degplug.utils.torch_files import load_weights_only, state_dict_mismatch

CHECKPOINT_KIND = "degplug.UniversalDegradationModel"
CHECKPOINT_VERSION = 1
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
        check_image("degraded", degraded, min_size=MIN_SIZE)
        if global_vector is None:
            global_vector = self.hden(degraded)
        with torch.autocast(device_type=degraded.device.type, enabled=False):
            e_g, bits_g = self.rate_g(global_vector.float(), generator=generator, detach_rate=detach_rate)
        if self.iden is not None:
            local_map = self.iden(degraded)
            with torch.autocast(device_type=degraded.device.type, enabled=False):
                e_l, bpp_l = self.rate_l(local_map.float(), generator=generator, detach_rate=detach_rate)
        else:
            e_l, bpp_l = None, torch.zeros_like(bits_g)
        return DegradationEmbedding(e_g, e_l), bits_g, bpp_l

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
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
        }

    def save_checkpoint(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(path.suffix + ".tmp")
        torch.save(self.checkpoint_state(), temporary)
        temporary.replace(path)  # never leave a half-written checkpoint behind

    @classmethod
    def from_checkpoint_state(cls, state: dict, source: str = "checkpoint") -> "UniversalDegradationModel":
        if not isinstance(state, dict) or state.get("kind") != CHECKPOINT_KIND:
            raise ValueError(f"{source}: not a degplug UDM checkpoint (kind {state.get('kind') if isinstance(state, dict) else None!r})")
        if state.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"{source}: UDM checkpoint version {state.get('version')}, this degplug reads {CHECKPOINT_VERSION}")
        config, weights = state.get("config"), state.get("state_dict")
        if not isinstance(config, dict) or not isinstance(weights, dict):
            raise ValueError(f"{source}: a UDM checkpoint needs a 'config' dict and a 'state_dict' dict")
        config = {**LEGACY_CONFIG_VALUES, **config}
        try:
            model = cls(**config)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{source}: invalid UDM config in the checkpoint: {error}") from error
        try:
            # The entropy bottleneck's CDF tables are buffers whose size depends on training.
            _resize_buffers_to(model, weights)
            missing, unexpected = model.load_state_dict(weights, strict=False)
        except (RuntimeError, AttributeError, TypeError) as error:  # shapes that do not fit the config
            raise ValueError(f"{source}: checkpoint weights do not match its config ({state_dict_mismatch(error)})") from error
        if missing or unexpected:
            raise ValueError(f"{source}: checkpoint does not match its config (missing {missing[:5]}, unexpected {unexpected[:5]})")
        return model

    @classmethod
    def from_checkpoint(cls, path: str | Path, map_location: str | torch.device = "cpu") -> "UniversalDegradationModel":
        """Load a checkpoint written by ``save_checkpoint`` (or by degplug's training models).

        ``path`` may also be the short name of a model shipped with degplug (``"small"``, see
        ``degplug.models``)."""
        from degplug.models import resolve_udm_checkpoint

        path = resolve_udm_checkpoint(path)
        if not path.is_file():
            raise FileNotFoundError(f"UDM checkpoint {str(path)!r} does not exist")
        state = load_weights_only(path, "UDM checkpoint", map_location)  # corrupt, foreign or code-carrying: refused
        return cls.from_checkpoint_state(state, source=str(path))


def _resize_buffers_to(module: nn.Module, state_dict: dict) -> None:
    """Give buffers the shapes stored in ``state_dict`` (compressai's CDF tables vary in size)."""
    for name, buffer in list(module.named_buffers()):
        stored = state_dict.get(name)
        if stored is not None and stored.shape != buffer.shape:
            owner_name, _, leaf = name.rpartition(".")
            owner = module.get_submodule(owner_name) if owner_name else module
            owner._buffers[leaf] = torch.empty_like(stored, device=buffer.device)
