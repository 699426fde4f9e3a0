"""Transfer tuples ``(x_a, y_a, x_b, y_b)``: one sampled degradation applied to two clean images (docs/specification.md §3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import torch

from degplug.data.synthetic_pairs import SyntheticPairDataset


class TransferTupleDataset(SyntheticPairDataset):
    """Like :class:`SyntheticPairDataset`, plus a second clean image ``gt_b`` degraded with the same params.

    ``b`` is another image of the folder (a different file whenever the folder has two or more),
    cropped to the same size. Both are degraded as regions of one common size (see
    ``degrade_size``; within the smaller image) and then cropped at the same place inside their regions, so the
    layouts of inhomogeneous degradations (haze depth, drops, masks) coincide on the two crops and
    ``e_l`` of ``a`` is the right map for ``b``. With ``fresh_noise_for_b`` (default) the stochastic operators draw a
    new realisation for ``b`` (same distribution, different noise field), so identical same-size
    noise is never a shortcut; the recorded ``params`` are those of ``a``, and ``params_b`` those of b.

    Item keys: ``gt``, ``lq``, ``gt_b``, ``lq_b``, ``gt_path``, ``lq_path``, ``gt_b_path``,
    ``lq_b_path``, ``params``, ``params_b``; with ``positive_crop``, ``lq_pos`` (a second crop of
    ``a``'s degraded region). With ``degrade_on: device`` the ``lq`` keys are left to the training
    step: ``gt_region``, ``window`` (and ``positive_window``), ``gt_b_region``, ``window_b`` instead.
    """

    def __init__(
        self,
        gt_folder: str | Path | Iterable[str | Path] | None = None,
        pipeline: Any = "realistic",
        crop_size: int | None = 256,
        seed: int = 0,
        repeat: int = 1,
        use_flip: bool = True,
        use_rot: bool = True,
        phase: str = "train",
        fresh_noise_for_b: bool = True,
        degrade_size: int | None = None,
        positive_crop: bool = False,
        degrade_on: str = "cpu",
    ) -> None:
        super().__init__(
            gt_folder, pipeline, crop_size, seed, repeat, use_flip, use_rot, phase,
            degrade_size=degrade_size, positive_crop=positive_crop, degrade_on=degrade_on,
        )
        self.fresh_noise_for_b = fresh_noise_for_b

    def __getitem__(self, index: int) -> dict[str, Any]:
        generator = self.generator_for(index)
        count = len(self.paths)
        image_a, position_a = self.load_with_skip(
            index % count, count, lambda i: (self._load_clean(self.paths[i], generator), i)
        )
        if count > 1:
            other = int(torch.randint(count - 1, (), generator=generator))
            start_b = other if other < position_a else other + 1
        else:
            start_b = position_a
        image_b, position_b = self.load_with_skip(
            start_b, count, lambda i: (self._load_clean(self.paths[i], generator), i)
        )
        params = self.pipeline.sample(generator)
        params_b = params.with_fresh_noise(generator) if self.fresh_noise_for_b else params
        clean_a = self._place(image_a, generator, self._region_size(params, image_a, image_b))
        clean_b = self._place_like(image_b, generator, clean_a)
        path_a, path_b = str(self.paths[position_a]), str(self.paths[position_b])
        b = self._degrade(clean_b, params_b)
        if self.degrade_on == "device":
            b = {"gt_b": b["gt"], "gt_b_region": b["gt_region"], "window_b": b["window"]}
        else:
            b = {"gt_b": b["gt"], "lq_b": b["lq"]}
        return {
            **self._degrade(clean_a, params),
            **b,
            "gt_path": path_a,
            "lq_path": path_a,
            "gt_b_path": path_b,
            "lq_b_path": path_b,
            "params": params.to_json(),
            "params_b": params_b.to_json(),
        }
