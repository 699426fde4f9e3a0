"""The synthesis network's random state ``n`` as explicit tensors (one stack per U-Net level).

``ŷ = f(x, e_g, e_l, n)`` (docs/specification.md §1.5): every IDA-SFT layer of the synthesis U-Net adds a fresh
1-channel N(0, 1) map at its feature's resolution, normally drawn from a ``torch.Generator``.
Here that state is made explicit, so it can be saved, edited, or fed to an exported graph
(``degplug.onnx_export``) that cannot draw the generator's numbers itself:

- :func:`noise_layout` finds, once per network, the stride (1, 2 or 4: full, half or quarter of
  the padded image) of every layer's map, in the order the layers draw them;
- :func:`draw_noise_state` draws those maps from a generator exactly as the network would, and
  stacks them per level: ``{stride: N×k×(H/stride)×(W/stride)}``, ``k`` the layers at that level;
- :class:`ExplicitNoise` is the ``noise_source`` that hands the stacked maps back to the layers.

So ``synthesis(x, e_g, e_l, generator=g)`` and ``synthesis(x, e_g, e_l,
noise_source=ExplicitNoise(layout, draw_noise_state(layout, N, H, W, g')))`` are equal when ``g``
and ``g'`` start from the same seed (for H, W that the network does not pad: multiples of its
``size_multiple``; the network pads other sizes, and its maps then have the padded size).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
from torch import nn

#: The U-Net levels' strides: full, half and quarter resolution.
LEVEL_STRIDES = (1, 2, 4)
LEVEL_NAMES = {1: "full", 2: "half", 4: "quarter"}

_PROBE_SIZE = 32  # a multiple of every synthesis network's size multiple (4 or 8) whose quarter is > 1


@dataclass(frozen=True)
class NoiseLayout:
    """Where the random state goes: ``strides[i]`` is the stride of the i-th noise map drawn."""

    strides: tuple[int, ...]

    def __post_init__(self) -> None:
        unknown = sorted(set(self.strides) - set(LEVEL_STRIDES))
        if unknown:
            raise ValueError(f"noise layout: strides must be among {LEVEL_STRIDES}, got {unknown}")

    @property
    def levels(self) -> tuple[int, ...]:
        """The strides that carry at least one map, finest first (the order of graph inputs)."""
        return tuple(s for s in LEVEL_STRIDES if s in self.strides)

    def count(self, stride: int) -> int:
        """How many maps the layers at ``stride`` draw."""
        return Counter(self.strides)[stride]

    def shapes(self, batch: int, height: int, width: int) -> dict[int, tuple[int, int, int, int]]:
        """``{stride: (N, k, H/stride, W/stride)}`` for an H×W input (H, W multiples of 4)."""
        for name, side in (("height", height), ("width", width)):
            if side % max(self.levels, default=1):
                raise ValueError(f"noise state: {name} {side} must be a multiple of {max(self.levels)}")
        return {s: (batch, self.count(s), height // s, width // s) for s in self.levels}


def noise_layout(synthesis: nn.Module) -> NoiseLayout:
    """Run ``synthesis`` once on a small probe and record the stride of every noise map it asks for.

    ``synthesis``: a ``DegradationSynthesisNet`` or an ``OfficialSynthesisNet`` (anything with
    their ``forward(x, e_g, e_l, generator, noise_source)`` and ``embed_dim``/``map_channels``).
    """
    strides: list[int] = []

    def record(feature: torch.Tensor) -> torch.Tensor:
        height = feature.shape[-2]
        if _PROBE_SIZE % height:
            raise ValueError(f"noise layout: a noise map of height {height} is not a level of a {_PROBE_SIZE}-pixel probe")
        strides.append(_PROBE_SIZE // height)
        return torch.zeros(feature.shape[0], 1, *feature.shape[-2:], device=feature.device, dtype=feature.dtype)

    parameter = next(synthesis.parameters())
    device, dtype = parameter.device, parameter.dtype
    x = torch.full((1, 3, _PROBE_SIZE, _PROBE_SIZE), 0.5, device=device, dtype=dtype)
    e_g = torch.zeros(1, synthesis.embed_dim, device=device, dtype=dtype)
    half = _PROBE_SIZE // 2
    e_l = torch.zeros(1, synthesis.map_channels, half, half, device=device, dtype=dtype) if synthesis.map_channels else None
    with torch.no_grad():
        synthesis(x, e_g, e_l, noise_source=record)
    return NoiseLayout(tuple(strides))


def draw_noise_state(
    layout: NoiseLayout,
    batch: int,
    height: int,
    width: int,
    generator: torch.Generator,
    device: torch.device | str | None = None,
) -> dict[int, torch.Tensor]:
    """The maps a synthesis network draws from ``generator`` for an N×3×H×W input, stacked per level.

    Drawn in the layers' order with the same calls as ``degplug.nn.ida_sft.draw_noise_map``
    (float32, on the generator's device, then moved to ``device``), so the same seed gives the same
    numbers. Returns ``{stride: N×k×(H/stride)×(W/stride)}`` (float32); H, W multiples of 4.
    """
    shapes = layout.shapes(batch, height, width)
    maps: dict[int, list[torch.Tensor]] = {s: [] for s in layout.levels}
    for stride in layout.strides:
        _, _, h, w = shapes[stride]
        maps[stride].append(torch.randn((batch, 1, h, w), generator=generator, device=generator.device, dtype=torch.float32))
    target = torch.device(device) if device is not None else generator.device
    return {s: torch.cat(parts, dim=1).to(target) for s, parts in maps.items()}


class ExplicitNoise:
    """A ``noise_source`` (``degplug.nn.ida_sft.NoiseSource``) that hands out given maps in layer order.

    ``state``: ``{stride: N×k×(H/stride)×(W/stride)}`` as :func:`draw_noise_state` returns (any
    values: zeros give the network's noise-free output). Use one instance per forward pass.
    """

    def __init__(self, layout: NoiseLayout, state: dict[int, torch.Tensor]) -> None:
        missing = [s for s in layout.levels if s not in state]
        if missing:
            raise ValueError(f"noise state: no maps for the {[LEVEL_NAMES[s] for s in missing]} level(s)")
        for stride in layout.levels:
            tensor = state[stride]
            if tensor.dim() != 4 or tensor.shape[1] != layout.count(stride):
                raise ValueError(
                    f"noise state: the {LEVEL_NAMES[stride]}-resolution maps must be N×{layout.count(stride)}×h×w, "
                    f"got {tuple(tensor.shape)}"
                )
        self.layout = layout
        self.state = state
        self._calls = 0
        self._used = Counter()

    def __call__(self, feature: torch.Tensor) -> torch.Tensor:
        if self._calls >= len(self.layout.strides):
            raise ValueError(f"noise state: the network asked for more than the {len(self.layout.strides)} maps of its layout")
        stride = self.layout.strides[self._calls]
        slot = self._used[stride]
        self._calls += 1
        self._used[stride] += 1
        return self.state[stride][:, slot : slot + 1]
