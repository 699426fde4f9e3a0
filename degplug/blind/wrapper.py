"""BlindWrapper: make a non-blind restorer blind with a trained, frozen UDM (docs/specification.md §4).

    from degplug import BlindWrapper
    blind = BlindWrapper(restorer, udm="udm.pth")
    x_hat = blind(y)                      # y, x_hat: N×3×H×W RGB in [0, 1]

``restorer`` is an ``nn.Module``/object, or a config dict built through
:mod:`degplug.blind.restorer_factory` (``{"framework": "basicsr", "type": "SwinIR", ...}``;
``{"framework": "mmagic", "type": "NAFNet", ...}``: the adapter's builder is imported when first
named, so neither needs an ``import basicsr_ext`` / ``import mmagic_ext`` first;
``{"framework": "python", "allow_python_import": True, "type": "pkg.mod:Class", ...}`` with
``allow_python_import=True`` (both opt-ins are needed to import code named in a config);
``{"framework": "degplug", "type": "PlugAndPlayHQS", ...}``).

Modes:

- ``"operator"``: the restorer implements ``restore(degraded, operator)`` (see
  :mod:`degplug.blind.protocol`); the wrapper encodes ``E(y)`` and hands over
  ``A(x) = f(x, E(y), n)`` averaged over ``operator_seeds`` random states (differentiable in x);
- ``"data"``: the restorer maps a degraded image to a restored one (``restorer(y)``); it was
  trained, by the BasicSR model / MMagic editor of degplug, on pairs synthesized from a latent
  pool (:meth:`pair_synthesizer`), so inference just runs it;
- ``"auto"`` (default): operator mode when the restorer has ``restore``, else data mode.

The UDM is frozen (eval, ``requires_grad=False``) and is not a sub-module: ``parameters()`` and
``state_dict()`` of the wrapper hold only the restorer's. ``tile``: restore large images in
overlapping tiles (see :mod:`degplug.blind.tiling`); in operator mode each tile gets the
operator estimated from that tile.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from degplug.blind.frozen_udm import frozen_udm_on, load_frozen_udm
from degplug.blind.operator import EstimatedOperator
from degplug.blind.pool_pairs import LatentPoolPairSynthesizer
from degplug.blind.protocol import is_operator_restorer
from degplug.blind.restorer_factory import build_restorer
from degplug.blind.tiling import tiled_apply
from degplug.udm.model import MIN_SIZE, UniversalDegradationModel
from degplug.utils.validation import check_image

MODES = ("auto", "operator", "data")
PROTOCOL_HELP = (
    "operator mode needs a method restore(degraded: N×3×H×W tensor, operator: callable x -> A(x)) -> tensor; "
    "data mode needs an nn.Module (or callable) mapping a degraded N×3×H×W tensor to a restored one"
)


class _FrozenHolder:
    """Keeps the UDM out of the wrapper's module tree (so it is neither trained nor saved)."""

    def __init__(self, model: UniversalDegradationModel | None) -> None:
        self.model = model


class BlindWrapper(nn.Module):
    """A blind restorer: a non-blind ``restorer`` plus a frozen UDM (see the module docstring).

    Args:
        restorer: the non-blind restorer (object, module or config dict).
        udm: UDM checkpoint path or model; required in operator mode and for
            :meth:`pair_synthesizer`; optional for data-mode inference.
        mode: ``"auto"``, ``"operator"`` or ``"data"``.
        operator_seeds: random states ``n`` averaged in the estimated operator (fixed when one).
        tile, tile_overlap: tiled inference for images larger than ``tile`` px (None: whole image).
        progress: optional ``progress(done, total)`` callback over tiles.
        allow_python_import: let a config dict with ``framework: python`` (and its own
            ``allow_python_import: true``) import and build the class it names.
    """

    def __init__(
        self,
        restorer,
        udm: "str | Path | UniversalDegradationModel | None" = None,
        mode: str = "auto",
        operator_seeds: Sequence[int] = (0, 1, 2, 3),
        tile: int | None = None,
        tile_overlap: int = 32,
        progress: Callable[[int, int], None] | None = None,
        allow_python_import: bool = False,
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"BlindWrapper: mode must be one of {MODES}, got {mode!r}")
        if isinstance(restorer, dict):
            restorer = build_restorer(restorer, allow_python_import=allow_python_import)
        if mode == "auto":
            mode = "operator" if is_operator_restorer(restorer) else "data"
        if mode == "operator" and not is_operator_restorer(restorer):
            raise ValueError(f"BlindWrapper: restorer {type(restorer).__name__} does not fit the operator protocol: {PROTOCOL_HELP}")
        if mode == "data" and not callable(restorer):
            raise ValueError(f"BlindWrapper: restorer {type(restorer).__name__} fits neither protocol: {PROTOCOL_HELP}")
        if mode == "operator" and udm is None:
            raise ValueError("BlindWrapper: operator mode needs udm= (a trained UDM checkpoint) to estimate the operator")
        if tile is not None and (tile < MIN_SIZE or not 0 <= tile_overlap < tile):
            raise ValueError(f"BlindWrapper: need tile ≥ {MIN_SIZE} and 0 ≤ tile_overlap < tile, got tile={tile}, tile_overlap={tile_overlap}")
        if not list(operator_seeds):
            raise ValueError("BlindWrapper: operator_seeds must hold at least one seed")
        self.mode = mode
        self.restorer = restorer  # an nn.Module restorer becomes a sub-module; other objects stay attributes
        self._udm = _FrozenHolder(load_frozen_udm(udm) if udm is not None else None)
        self.operator_seeds = [int(s) for s in operator_seeds]
        self.tile = tile
        self.tile_overlap = int(tile_overlap)
        self.progress = progress

    @property
    def udm(self) -> UniversalDegradationModel | None:
        """The frozen UDM (not a sub-module)."""
        return self._udm.model

    def _require_udm(self, what: str) -> UniversalDegradationModel:
        if self.udm is None:
            raise ValueError(f"BlindWrapper.{what} needs a UDM: construct the wrapper with udm=<checkpoint>")
        return self.udm

    @torch.no_grad()
    def estimate_operator(self, degraded: torch.Tensor) -> EstimatedOperator:
        """``A(x) = f(x, E(degraded), n)`` for ``degraded`` N×3×H×W in [0, 1] (N embeddings)."""
        check_image("degraded", degraded, min_size=MIN_SIZE)
        udm = frozen_udm_on(self._require_udm("estimate_operator"), degraded.device)
        return EstimatedOperator(udm, udm.encode(degraded), self.operator_seeds)

    def pair_synthesizer(self, pool=None, reference_folder=None) -> LatentPoolPairSynthesizer:
        """Data mode: the frozen UDM with a latent pool (file or object) or a reference folder."""
        return LatentPoolPairSynthesizer(self._require_udm("pair_synthesizer"), pool=pool, reference_folder=reference_folder)

    def _restore_whole(self, degraded: torch.Tensor) -> torch.Tensor:
        if self.mode == "operator":
            return self.restorer.restore(degraded, self.estimate_operator(degraded))
        return self.restorer(degraded)

    def forward(self, degraded: torch.Tensor) -> torch.Tensor:
        """``degraded`` N×3×H×W in [0, 1] → restored N×3×H'×W' in [0, 1] (H' = s·H for an s× restorer)."""
        check_image("degraded", degraded, min_size=MIN_SIZE if self.mode == "operator" else 1)
        if self.tile is not None:
            restored = tiled_apply(self._restore_whole, degraded, self.tile, self.tile_overlap, self.progress)
        else:
            restored = self._restore_whole(degraded)
        if not isinstance(restored, torch.Tensor) or restored.dim() != 4:
            raise ValueError(f"BlindWrapper: the restorer returned {type(restored).__name__} {getattr(restored, 'shape', '')}, expected an N×C×H×W tensor")
        return restored.clamp(0.0, 1.0)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, udm={'set' if self.udm is not None else None}, operator_seeds={self.operator_seeds}, tile={self.tile}"
