"""The published all-in-one protocols' data layouts, and a check of a user's folder against them.

One folder ``DIR`` holds the training and test sets of a protocol, each dataset as it is
distributed (its own sub-folder and file names, see :mod:`degplug.data.all_in_one`)::

    DIR/train/denoise/    BSD400 and WED (Waterloo Exploration) clean images, any sub-folders
    DIR/train/derain/     Rain100L training pairs: rainy/rain-1.png … + norain/norain-1.png …
    DIR/train/dehaze/     RESIDE OTS: hazy/ (part1/ … allowed) + clear/ (or gt/); optionally
                          subset.txt, the degraded file names of the usual subset, one a line
    DIR/test/denoise/     CBSD68 clean images (noise added with fixed seeds at test time)
    DIR/test/derain/      Rain100L test pairs
    DIR/test/dehaze/      RESIDE SOTS outdoor: hazy/0001_0.8_0.2.jpg … + gt/0001.png …
    allinone5 also:
    DIR/train/deblur/     GoPro training set as released: <sequence>/blur/ + <sequence>/sharp/
    DIR/train/lowlight/   LOL our485: low/ + high/
    DIR/test/deblur/      GoPro test set
    DIR/test/lowlight/    LOL eval15

``allinone3`` is NDR-Restore's published mix (noise σ 15/25/50, rain, haze); ``allinone4`` adds
bicubic ×2 super-resolution, synthesised from the same clean images (no extra data);
``allinone5`` is the five-task mix (noise, rain, haze, GoPro blur, LOL low light).
:func:`check_layout` reports, per dataset, what is there and exactly what is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from degplug.data.all_in_one import (
    CLEAN_FOLDER_NAMES,
    DEGRADED_FOLDER_NAMES,
    PAIRING_PATTERNS,
    pair_files,
    read_list_file,
    select_listed,
    task_folder_pairs,
)
from degplug.data.folders import list_image_files

#: Clean training images smaller than this cannot give the protocol's 128×128 crops.
TRAIN_CROP = 128
#: Clean images may exceed their degraded image by this many pixels per side (SOTS indoor).
MAX_MARGIN = 10
SUBSET_FILE = "subset.txt"


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of a protocol: where it goes under DIR and what it holds."""

    folder: str  # relative to DIR, e.g. "train/derain"
    task: str
    name: str
    count: int  # the published number of images (clean sets) or degraded images (paired sets)
    paired: bool
    note: str = ""


_ALLINONE3 = (
    DatasetSpec("train/denoise", "denoise", "BSD400 + WED clean images", 400 + 4744, False),
    DatasetSpec("train/derain", "derain", "Rain100L training pairs", 200, True),
    DatasetSpec("train/dehaze", "dehaze", "RESIDE OTS training pairs", 72135, True,
                note=f"the usual 72,135-image subset; with the full OTS, list the subset in train/dehaze/{SUBSET_FILE}"),
    DatasetSpec("test/denoise", "denoise", "CBSD68 clean images", 68, False),
    DatasetSpec("test/derain", "derain", "Rain100L test pairs", 100, True),
    DatasetSpec("test/dehaze", "dehaze", "RESIDE SOTS outdoor pairs", 500, True),
)
_FIVE_TASK_EXTRA = (
    DatasetSpec("train/deblur", "deblur", "GoPro training pairs", 2103, True),
    DatasetSpec("train/lowlight", "lowlight", "LOL our485 pairs", 485, True),
    DatasetSpec("test/deblur", "deblur", "GoPro test pairs", 1111, True),
    DatasetSpec("test/lowlight", "lowlight", "LOL eval15 pairs", 15, True),
)
PROTOCOLS: dict[str, tuple[DatasetSpec, ...]] = {
    "allinone3": _ALLINONE3,
    "allinone4": _ALLINONE3,  # + ×2 SR synthesised from train/denoise and test/denoise
    "allinone5": _ALLINONE3 + _FIVE_TASK_EXTRA,
}


@dataclass
class DatasetReport:
    """What :func:`check_layout` found for one :class:`DatasetSpec`."""

    spec: DatasetSpec
    found: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        status = "ok" if self.ok else ("MISSING" if self.found == 0 else "PROBLEM")
        unit = "pairs" if self.spec.paired else "images"
        head = f"{status:8s} {self.spec.folder:16s} {self.spec.name}: {self.found} {unit} (protocol: {self.spec.count})"
        return [head] + [f"{'':8s}   - {text}" for text in self.problems] + [f"{'':8s}   · {text}" for text in self.notes]


def _image_size(path: Path) -> tuple[int, int] | None:
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
    except Exception:  # noqa: BLE001 (any unreadable header is reported as such)
        return None
    return height, width


def _examples(paths: list[str], limit: int = 5) -> str:
    return ", ".join(paths[:limit]) + (f" … ({len(paths)} in all)" if len(paths) > limit else "")


def _check_clean(report: DatasetReport, folder: Path, sizes: bool, train: bool) -> None:
    files = list_image_files(folder)
    report.found = len(files)
    if not files:
        report.problems.append(f"no images in {folder}")
        return
    if not sizes:
        return
    unreadable, small = [], []
    for path in files:
        size = _image_size(path)
        if size is None:
            unreadable.append(str(path.relative_to(folder)))
        elif train and min(size) < TRAIN_CROP:
            small.append(f"{path.relative_to(folder)} ({size[0]}×{size[1]})")
    if unreadable:
        report.problems.append(f"{len(unreadable)} unreadable image(s): {_examples(unreadable)}")
    if small:
        report.problems.append(f"{len(small)} image(s) smaller than the {TRAIN_CROP}×{TRAIN_CROP} training crop: {_examples(small)}")


def _key(path: Path, folder: Path, pattern: re.Pattern[str] | None) -> str | None:
    stem = path.relative_to(folder).with_suffix("").as_posix()
    if pattern is None:
        return stem
    match = pattern.search(stem)
    return None if match is None else (match.group(1) if match.groups() else match.group(0))


def _partial_pairs(lq_folder: Path, gt_folder: Path, task: str) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(pairs found, degraded files without a clean match) under the task's most specific rule."""
    raw = PAIRING_PATTERNS.get(task, (None,))[-1]
    pattern = re.compile(raw) if raw else None
    clean = {_key(p, gt_folder, pattern): p for p in list_image_files(gt_folder)}
    pairs, missing = [], []
    for path in list_image_files(lq_folder):
        key = _key(path, lq_folder, pattern)
        if key in clean:
            pairs.append((path, clean[key]))
        else:
            missing.append(str(path.relative_to(lq_folder.parent)))
    return pairs, missing


def _check_pairs(report: DatasetReport, folder: Path, sizes: bool) -> None:
    spec = report.spec
    try:
        folder_pairs = task_folder_pairs(folder, spec.task)
    except (ValueError, FileNotFoundError) as error:
        report.problems.append(str(error))
        return
    pairs, unpaired = [], []
    for lq_folder, gt_folder in folder_pairs:
        try:
            pairs.extend(pair_files(lq_folder, gt_folder, spec.task)[0])
        except ValueError as error:
            found, missing = _partial_pairs(lq_folder, gt_folder, spec.task)
            pairs.extend(found)
            if missing:
                unpaired.append(f"{len(missing)} degraded image(s) without a clean image in {gt_folder}: {_examples(missing)}")
            else:
                unpaired.append(str(error))
    subset = folder / SUBSET_FILE
    if subset.is_file() and pairs:
        try:
            lq_root = folder_pairs[0][0] if len(folder_pairs) == 1 else folder
            pairs = select_listed(pairs, lq_root, read_list_file(subset), str(subset))
            report.notes.append(f"selected by {subset.name}")
        except (ValueError, FileNotFoundError) as error:
            report.problems.append(str(error))
    report.found = len(pairs)
    report.problems.extend(unpaired)
    if not pairs and not unpaired:
        report.problems.append(f"no degraded images in {', '.join(str(lq) for lq, _ in folder_pairs)}")
    used_clean = {gt for _, gt in pairs}
    clean_files = {path for _, gt_folder in folder_pairs for path in list_image_files(gt_folder)}
    if clean_files - used_clean:
        left = sorted(str(p.relative_to(folder)) for p in clean_files - used_clean)
        report.notes.append(f"{len(left)} clean image(s) without a degraded one: {_examples(left)}")
    if not sizes:
        return
    mismatched, unreadable = [], []
    for lq_path, gt_path in pairs:
        lq_size, gt_size = _image_size(lq_path), _image_size(gt_path)
        if lq_size is None or gt_size is None:
            unreadable.append(str((lq_path if lq_size is None else gt_path).relative_to(folder)))
            continue
        extra_h, extra_w = gt_size[0] - lq_size[0], gt_size[1] - lq_size[1]
        if not (0 <= extra_h <= 2 * MAX_MARGIN and 0 <= extra_w <= 2 * MAX_MARGIN):
            mismatched.append(
                f"{lq_path.relative_to(folder)} {lq_size[0]}×{lq_size[1]} vs {gt_path.relative_to(folder)} {gt_size[0]}×{gt_size[1]}"
            )
    if unreadable:
        report.problems.append(f"{len(unreadable)} unreadable image(s): {_examples(unreadable)}")
    if mismatched:
        report.problems.append(f"{len(mismatched)} pair(s) of different sizes: {_examples(mismatched, 3)}")


def check_layout(root: str | Path, protocol: str = "allinone3", sizes: bool = True) -> list[DatasetReport]:
    """Check ``root`` against ``protocol`` (:data:`PROTOCOLS`): one report per dataset.

    Counts below the published ones are problems (the missing number is named); more images
    than published is a note. ``sizes``: also read every image header (unreadable files, pairs
    of different sizes beyond a :data:`MAX_MARGIN` border, training images below the crop).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"--protocol: expected one of {sorted(PROTOCOLS)}, got {protocol!r}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{str(root)!r} is not a folder")
    reports = []
    for spec in PROTOCOLS[protocol]:
        report = DatasetReport(spec)
        folder = root / spec.folder
        if not folder.is_dir():
            if spec.paired:
                layout = (f"with a degraded sub-folder ({' | '.join(DEGRADED_FOLDER_NAMES[spec.task])}) and a clean one "
                          f"({' | '.join(CLEAN_FOLDER_NAMES[spec.task])}), or sequence sub-folders that each hold both (GoPro)")
            else:
                layout = "with the clean images (any sub-folders)"
            report.problems.append(f"folder {folder} does not exist: put the {spec.name} there, {layout}")
        elif spec.paired:
            _check_pairs(report, folder, sizes)
        else:
            _check_clean(report, folder, sizes, train=spec.folder.startswith("train/"))
        if report.found and report.found < spec.count:
            report.problems.append(f"{spec.count - report.found} of the protocol's {spec.count} are missing")
        elif report.found > spec.count:
            report.notes.append(f"{report.found - spec.count} more than the protocol's {spec.count}"
                                + (f" ({spec.note})" if spec.note else ""))
        reports.append(report)
    return reports


def format_reports(reports: list[DatasetReport], root: str | Path, protocol: str) -> str:
    lines = [f"{protocol} layout in {root}:"]
    for report in reports:
        lines.extend("  " + line for line in report.lines())
    bad = [r for r in reports if not r.ok]
    if protocol == "allinone4":
        lines.append("  (×2 super-resolution pairs are synthesised from train/denoise and test/denoise)")
    lines.append(f"{len(bad)} of {len(reports)} datasets incomplete" if bad else f"all {len(reports)} datasets complete")
    return "\n".join(lines) + "\n"
