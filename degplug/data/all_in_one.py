"""All-in-one restoration mix (SPEC §2): noise σ ∈ {15, 25, 50}, rain, haze, ×2/×4 SR, with repeats.

Each task reads real pairs when given ``lq_folder`` (e.g. Rain100L, RESIDE SOTS/OTS) and
synthesises them from clean images otherwise (preset ``allinone_<task>``). Defaults follow the
NDR-Restore recipe: denoise ×1 per σ (×3 in all), derain ×120, dehaze ×1, SR ×1.
"""

from __future__ import annotations

import bisect
from typing import Any, Sequence

from torch.utils.data import Dataset

from degplug.data.paired_folders import PairedFolderDataset
from degplug.data.synthetic_pairs import SyntheticPairDataset

TASKS = ("denoise", "derain", "dehaze", "sr")
DEFAULT_REPEAT = {"denoise": 1, "derain": 120, "dehaze": 1, "sr": 1}
_TASK_KEYS = {"task", "gt_folder", "lq_folder", "repeat", "sigmas", "scale", "key_pattern", "crop_gt_to_lq"}


class AllInOneDataset(Dataset):
    """Concatenation of per-task datasets, each item tagged with ``task`` (name) and ``task_id`` (int).

    Args:
        tasks: list of task names or dicts: ``{task: denoise, gt_folder: ..., sigmas: [15, 25, 50],
            repeat: 1}``, ``{task: derain, lq_folder: rainy/, gt_folder: gt/, key_pattern: '(\\d+)$',
            repeat: 120}``, ``{task: dehaze, ...}``, ``{task: sr, scale: 2}``. A missing ``gt_folder``
            uses the embedded photographs. Denoise expands into one sub-task per σ
            (``denoise_15``, ...). Synthetic SR resizes lq back to the gt size (bicubic).
        crop_size, seed, phase, use_flip, use_rot: passed to every sub-dataset.
    """

    def __init__(
        self,
        tasks: Sequence[str | dict[str, Any]] = ("denoise", "derain", "dehaze"),
        crop_size: int | None = 128,
        seed: int = 0,
        phase: str = "train",
        use_flip: bool = True,
        use_rot: bool = True,
    ) -> None:
        self.datasets: list[Dataset] = []
        self.task_names: list[str] = []
        common = {"crop_size": crop_size, "phase": phase, "use_flip": use_flip, "use_rot": use_rot}
        for number, spec in enumerate(tasks):
            spec = {"task": spec} if isinstance(spec, str) else dict(spec)
            unknown = sorted(set(spec) - _TASK_KEYS)
            if unknown:
                raise ValueError(f"all-in-one task {number}: unknown key(s) {unknown}, expected some of {sorted(_TASK_KEYS)}")
            task = spec.get("task")
            if task not in TASKS:
                raise ValueError(f"all-in-one task {number}: 'task' must be one of {TASKS}, got {task!r}")
            repeat = int(spec.get("repeat", DEFAULT_REPEAT[task]))
            task_seed = seed + 1000 * number
            if spec.get("lq_folder"):
                if spec.get("gt_folder") is None:
                    raise ValueError(f"all-in-one task {task!r}: 'lq_folder' needs a 'gt_folder' too")
                dataset = PairedFolderDataset(
                    spec["lq_folder"],
                    spec["gt_folder"],
                    scale=int(spec.get("scale", 1)),
                    key_pattern=spec.get("key_pattern"),
                    crop_gt_to_lq=bool(spec.get("crop_gt_to_lq", False)),
                    seed=task_seed,
                    repeat=repeat,
                    **common,
                )
                self._add(dataset, task if task != "sr" else f"sr_x{int(spec.get('scale', 1))}")
            elif task == "denoise":
                for sigma in spec.get("sigmas", (15, 25, 50)):
                    pipeline = {"name": f"allinone_noise{sigma}", "ops": [{"type": "gaussian_noise", "sigma": float(sigma), "gray_prob": 0.0}]}
                    self._add(SyntheticPairDataset(spec.get("gt_folder"), pipeline, seed=task_seed + int(sigma), repeat=repeat, **common), f"denoise_{sigma}")
            else:
                preset = {"derain": "allinone_rain", "dehaze": "allinone_haze"}.get(task)
                if task == "sr":
                    scale = int(spec.get("scale", 2))
                    if scale not in (2, 4):
                        raise ValueError(f"all-in-one task 'sr': synthetic scale must be 2 or 4, got {scale}")
                    preset = f"allinone_sr_x{scale}"
                    task = f"sr_x{scale}"
                self._add(SyntheticPairDataset(spec.get("gt_folder"), preset, seed=task_seed, repeat=repeat, **common), task)
        if not self.datasets:
            raise ValueError("all-in-one dataset needs at least one task")
        self.cumulative: list[int] = []
        total = 0
        for dataset in self.datasets:
            total += len(dataset)
            self.cumulative.append(total)

    def _add(self, dataset: Dataset, name: str) -> None:
        self.datasets.append(dataset)
        self.task_names.append(name)

    def set_epoch(self, epoch: int) -> None:
        for dataset in self.datasets:
            dataset.set_epoch(epoch)

    @property
    def bad_files(self) -> set:
        return set().union(*(dataset.bad_files for dataset in self.datasets))

    def __len__(self) -> int:
        return self.cumulative[-1]

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        which = bisect.bisect_right(self.cumulative, index)
        start = self.cumulative[which - 1] if which else 0
        item = dict(self.datasets[which][index - start])
        item["task"] = self.task_names[which]
        item["task_id"] = which
        return item
