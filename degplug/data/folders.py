"""Listing image folders and reading many files robustly (one bad file is reported, not fatal)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

from degplug.data.image_io import IMAGE_EXTENSIONS, is_image_file

logger = logging.getLogger(__name__)


def list_image_files(folder: str | Path, recursive: bool = True) -> list[Path]:
    """Sorted image files in ``folder`` (extensions: IMAGE_EXTENSIONS, case-insensitive).

    An LMDB folder (BasicSR layout, see :mod:`lmdb_source`) lists as ``folder/<key>`` entries that
    :func:`read_image` understands.

    FileNotFoundError when the folder does not exist, ValueError (naming it) when it is not a
    folder or holds no image file.
    """
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"image folder not found: {str(folder)!r}")
    from degplug.data.lmdb_source import is_lmdb_folder, lmdb_keys

    if is_lmdb_folder(folder):
        return [folder / key for key in lmdb_keys(folder)]
    if not folder.is_dir():
        raise ValueError(f"expected a folder of images, {str(folder)!r} is a file")
    pattern: Iterable[Path] = folder.rglob("*") if recursive else folder.iterdir()
    files = sorted(path for path in pattern if path.is_file() and is_image_file(path) and not path.name.startswith("."))
    if not files:
        raise ValueError(f"image folder {str(folder)!r} contains no image files (looked for {', '.join(IMAGE_EXTENSIONS)})")
    return files


def resolve_image_paths(source: str | Path | Iterable[str | Path], recursive: bool = True) -> list[Path]:
    """A folder → its images; a single image file → [it]; a list of files/folders → all, in order."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_file():
            return [path]
        return list_image_files(path, recursive=recursive)
    paths: list[Path] = []
    for item in source:
        paths.extend(resolve_image_paths(item, recursive=recursive))
    if not paths:
        raise ValueError("no image files given (the list of sources is empty)")
    return paths
