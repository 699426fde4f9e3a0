"""All-in-one restoration mix (docs/specification.md §2): noise σ ∈ {15, 25, 50}, rain, haze, ×2/×4 SR, blur, low light.

Each task reads real pairs when given ``lq_folder`` + ``gt_folder`` or a dataset's own folder as
``root_folder`` (e.g. Rain100L, RESIDE SOTS/OTS, GoPro, LOL), and synthesises them from clean
images otherwise (preset ``allinone_<task>``; noise, rain, haze and SR only). Defaults follow the
NDR-Restore recipe: denoise ×1 per σ (×3 in all), derain ×120, dehaze ×1, SR ×1.

``root_folder`` takes the datasets as they are distributed: the degraded and clean sub-folders
are found under the names in :data:`DEGRADED_FOLDER_NAMES` / :data:`CLEAN_FOLDER_NAMES` (Rain100L
``rainy/`` + ``norain/``, RESIDE ``hazy/`` + ``clear/`` or ``gt/``, LOL ``low/`` + ``high/``, GoPro
``<sequence>/blur/`` + ``<sequence>/sharp/``), and file names pair as the datasets name them
(:data:`PAIRING_PATTERNS`: Rain100L ``rain-1.png`` → ``norain-1.png``, SOTS/OTS
``0001_0.8_0.2.jpg`` → ``0001.png``, also inside OTS's ``part1/``…``part4/``), so no renaming or
symbolic links are needed. ``list_file`` (a text file of degraded file names, relative to the
degraded folder, one a line) selects a subset, e.g. the usual RESIDE OTS training subset.
Real super-resolution pairs (clean ``scale`` × the degraded size) are upsampled bicubically to the
clean size, as the synthetic ×2/×4 inputs are (bicubic down, bicubic back up).
"""

from __future__ import annotations

import bisect
import re
from pathlib import Path
from typing import Any, Sequence

from torch.utils.data import Dataset

from degplug.data.paired_folders import PairedFolderDataset, match_pairs
from degplug.data.synthetic_pairs import SyntheticPairDataset

TASKS = ("denoise", "derain", "dehaze", "sr", "deblur", "lowlight")
DEFAULT_REPEAT = {"denoise": 1, "derain": 120, "dehaze": 1, "sr": 1, "deblur": 1, "lowlight": 1}
SYNTHETIC_TASKS = ("denoise", "derain", "dehaze", "sr")
#: Sub-folder names of the degraded images, per task, as the public datasets name them (tried in order).
DEGRADED_FOLDER_NAMES: dict[str, tuple[str, ...]] = {
    "derain": ("rainy", "rain", "input", "lq", "degraded"),
    "dehaze": ("hazy", "haze", "synthetic", "input", "lq", "degraded"),
    "sr": ("lq", "LR", "lr", "input", "degraded"),
    "deblur": ("blur", "input", "lq", "degraded"),
    "lowlight": ("low", "input", "lq", "degraded"),
}
#: Sub-folder names of the clean images, per task (tried in order).
CLEAN_FOLDER_NAMES: dict[str, tuple[str, ...]] = {
    "derain": ("norain", "gt", "target", "clean"),
    "dehaze": ("clear", "gt", "GT", "original", "target", "clean"),
    "sr": ("gt", "HR", "hr", "target", "clean"),
    "deblur": ("sharp", "gt", "target", "clean"),
    "lowlight": ("high", "normal", "gt", "target", "clean"),
}
#: How degraded and clean file names pair, per task: tried in order, the first that pairs every
#: degraded file wins (None: the same relative name without extension).
PAIRING_PATTERNS: dict[str, tuple[str | None, ...]] = {
    "derain": (None, r"(\d+)$"),  # Rain100L rain-12 / norain-12
    "dehaze": (None, r"([^/_]+)(?:_[^/]*)?$"),  # SOTS/OTS [part1/]0001_0.8_0.2 / 0001
    "sr": (None, r"^(.+?)(?:[xX]\d)?$"),  # DIV2K-style 0001x2 / 0001
    "deblur": (None,),
    "lowlight": (None,),
}
#: the keys a task entry may hold (basicsr_ext.options_check checks them before training too)
TASK_KEYS = frozenset({"task", "gt_folder", "lq_folder", "root_folder", "list_file", "repeat", "sigmas", "scale",
                       "key_pattern", "crop_gt_to_lq", "name"})
_TASK_KEYS = TASK_KEYS


def _find_folder(root: Path, names: Sequence[str]) -> Path | None:
    """The first of ``names`` that is a sub-folder of ``root`` (exact, then case-insensitive)."""
    for name in names:
        if (root / name).is_dir():
            return root / name
    folders = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    return next((folders[name.lower()] for name in names if name.lower() in folders), None)


def task_folder_pairs(root: str | Path, task: str) -> list[tuple[Path, Path]]:
    """(degraded folder, clean folder) of a dataset folder: one pair, or one per sequence (GoPro).

    ``root`` holds a degraded and a clean sub-folder named as in :data:`DEGRADED_FOLDER_NAMES` /
    :data:`CLEAN_FOLDER_NAMES`, or sub-folders (sequences) that each hold both.
    """
    root = Path(root)
    if task not in DEGRADED_FOLDER_NAMES:
        raise ValueError(f"task {task!r} has no degraded/clean folders (tasks with pairs: {sorted(DEGRADED_FOLDER_NAMES)})")
    if not root.is_dir():
        raise FileNotFoundError(f"{str(root)!r} is not a folder")
    degraded_names, clean_names = DEGRADED_FOLDER_NAMES[task], CLEAN_FOLDER_NAMES[task]
    lq, gt = _find_folder(root, degraded_names), _find_folder(root, clean_names)
    if lq is not None and gt is not None:
        return [(lq, gt)]
    sequences = []
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        child_lq, child_gt = _find_folder(child, degraded_names), _find_folder(child, clean_names)
        if child_lq is not None and child_gt is not None:
            sequences.append((child_lq, child_gt))
    if sequences:
        return sequences
    found = sorted(p.name for p in root.iterdir() if p.is_dir())
    lacking = [what for what, folder in (("degraded", lq), ("clean", gt)) if folder is None]
    raise ValueError(
        f"{root}: no {' and no '.join(lacking)} sub-folder for task {task!r} (degraded: one of {list(degraded_names)}; "
        f"clean: one of {list(clean_names)}; or sequence folders holding both); sub-folders found: {found or 'none'}"
    )


def pair_files(
    lq_folder: str | Path, gt_folder: str | Path, task: str, key_pattern: str | None = None
) -> tuple[list[tuple[Path, Path]], str | None]:
    """Pair every degraded file with its clean file: ``key_pattern``, or the task's
    :data:`PAIRING_PATTERNS` in order. Returns (pairs, the pattern that worked)."""
    patterns = (key_pattern,) if key_pattern else PAIRING_PATTERNS.get(task, (None,))
    errors = []
    for pattern in patterns:
        try:
            return match_pairs(lq_folder, gt_folder, pattern), pattern
        except ValueError as error:
            errors.append(f"{'same name' if pattern is None else 'key ' + repr(pattern)}: {error}")
    raise ValueError(f"cannot pair {str(lq_folder)!r} with {str(gt_folder)!r}: " + "; ".join(errors))


def read_list_file(path: str | Path) -> list[str]:
    """Degraded file names (relative paths, ``/`` separated), one a line; blank lines and ``#`` comments skipped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"list_file {str(path)!r} does not exist")
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip().replace("\\", "/")
        if line and not line.startswith("#"):
            entries.append(line.lstrip("./") if line.startswith("./") else line)
    if not entries:
        raise ValueError(f"list_file {str(path)!r} lists no files")
    return entries


def select_listed(pairs: list[tuple[Path, Path]], lq_root: Path, entries: Sequence[str], list_file: str) -> list[tuple[Path, Path]]:
    """The pairs whose degraded file a list entry names (its path relative to ``lq_root``, or a
    path ending in it, or a tail of it: lists written from another root still match)."""
    by_name: dict[str, list[tuple[str, tuple[Path, Path]]]] = {}
    for pair in pairs:
        relative = pair[0].relative_to(lq_root).as_posix() if pair[0].is_relative_to(lq_root) else pair[0].name
        by_name.setdefault(pair[0].name, []).append((relative, pair))
    selected, unmatched = [], []
    for entry in entries:
        candidates = by_name.get(entry.rsplit("/", 1)[-1], [])
        hit = next((pair for relative, pair in candidates
                    if relative == entry or relative.endswith("/" + entry) or entry.endswith("/" + relative)), None)
        if hit is None:
            unmatched.append(entry)
        else:
            selected.append(hit)
    if unmatched:
        raise ValueError(
            f"list_file {list_file!r}: {len(unmatched)} of {len(entries)} listed files are not in {str(lq_root)!r} "
            f"(first: {unmatched[:5]})"
        )
    return selected


def task_pairs(spec: dict[str, Any], task: str) -> tuple[list[tuple[Path, Path]], str | None, Path]:
    """All (degraded, clean) files of a task entry with ``root_folder`` or ``lq_folder`` + ``gt_folder``.

    Returns (pairs, the pairing pattern, the degraded folder list entries are relative to).
    """
    if spec.get("root_folder"):
        if spec.get("lq_folder") or spec.get("gt_folder"):
            raise ValueError(f"all-in-one task {task!r}: give either 'root_folder' or 'lq_folder' + 'gt_folder', not both")
        folder_pairs = task_folder_pairs(spec["root_folder"], task)
        lq_root = Path(spec["root_folder"]) if len(folder_pairs) > 1 else folder_pairs[0][0]
    else:
        if spec.get("gt_folder") is None:
            raise ValueError(f"all-in-one task {task!r}: 'lq_folder' needs a 'gt_folder' too")
        folder_pairs = [(Path(spec["lq_folder"]), Path(spec["gt_folder"]))]
        lq_root = folder_pairs[0][0]
    pairs, pattern = [], None
    for lq_folder, gt_folder in folder_pairs:
        found, pattern = pair_files(lq_folder, gt_folder, task, spec.get("key_pattern"))
        pairs.extend(found)
    if spec.get("list_file"):
        pairs = select_listed(pairs, lq_root, read_list_file(spec["list_file"]), str(spec["list_file"]))
    return pairs, pattern, lq_root


class _UpsampledLQ(Dataset):
    """Real SR pairs for a single-resolution restorer: lq bicubically upsampled to the gt size."""

    def __init__(self, dataset: PairedFolderDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    @property
    def bad_files(self) -> set:
        return self.dataset.bad_files

    def __getitem__(self, index: int) -> dict[str, Any]:
        from degplug.degradations.filtering import resize

        item = dict(self.dataset[index])
        if item["lq"].shape[-2:] != item["gt"].shape[-2:]:
            item["lq"] = resize(item["lq"][None], tuple(item["gt"].shape[-2:]), "bicubic")[0].contiguous()
        return item


class AllInOneDataset(Dataset):
    """Concatenation of per-task datasets, each item tagged with ``task`` (name) and ``task_id`` (int).

    Args:
        tasks: list of task names or dicts: ``{task: denoise, gt_folder: ..., sigmas: [15, 25, 50],
            repeat: 1}``, ``{task: derain, root_folder: Rain100L/train, repeat: 120}`` (or
            ``lq_folder: rainy/, gt_folder: gt/`` and optionally ``key_pattern: '(\\d+)$'``),
            ``{task: dehaze, root_folder: OTS, list_file: ots_subset.txt}``, ``{task: sr, scale: 2}``,
            ``{task: deblur, root_folder: GOPRO_Large/train}``, ``{task: lowlight, root_folder:
            LOL/our485}`` (module doc). A missing ``gt_folder``
            uses the embedded photographs. Denoise expands into one sub-task per σ
            (``denoise_15``, ...). Synthetic SR resizes lq back to the gt size (bicubic). ``name``
            labels the task's rows in tables (``{sigma}`` is replaced for denoise, e.g.
            ``'denoise σ{sigma}'``, the row names of ``degplug eval ndr``).
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
            self._label, self._sigma = spec.get("name"), None
            if spec.get("lq_folder") or spec.get("root_folder"):
                pairs, pattern, _ = task_pairs(spec, task)
                if not pairs:
                    raise ValueError(f"all-in-one task {number} ({task!r}): found no image pairs")
                first_lq, first_gt = pairs[0][0].parent, pairs[0][1].parent
                scale = int(spec.get("scale", 1))
                dataset = PairedFolderDataset(
                    first_lq,
                    first_gt,
                    scale=scale,
                    key_pattern=pattern,
                    crop_gt_to_lq=bool(spec.get("crop_gt_to_lq", False)),
                    seed=task_seed,
                    repeat=repeat,
                    **common,
                )
                dataset.pairs = pairs  # every folder's pairs (sequences, sub-folders, list_file subset)
                if task == "sr":
                    self._add(_UpsampledLQ(dataset), f"sr_x{scale}")
                else:
                    self._add(dataset, task)
            elif task == "denoise":
                for sigma in spec.get("sigmas", (15, 25, 50)):
                    self._sigma = sigma
                    pipeline = {"name": f"allinone_noise{sigma}", "ops": [{"type": "gaussian_noise", "sigma": float(sigma), "gray_prob": 0.0}]}
                    self._add(SyntheticPairDataset(spec.get("gt_folder"), pipeline, seed=task_seed + int(sigma), repeat=repeat, **common), f"denoise_{sigma}")
            elif task not in SYNTHETIC_TASKS:
                raise ValueError(
                    f"all-in-one task {number} ({task!r}) has no synthetic version: give 'root_folder' "
                    "(or 'lq_folder' + 'gt_folder') with real pairs"
                )
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
        self.task_names.append(self._label.format(sigma=self._sigma) if self._label else name)

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
