"""Listing image folders and reading many files robustly (one bad file is reported, not fatal)."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from degplug.data.image_io import IMAGE_EXTENSIONS, is_image_file
from degplug.data.lmdb_source import is_lmdb_folder, lmdb_keys

logger = logging.getLogger(__name__)


#: ``on_skip(path, reason)``: told about every folder entry that cannot be listed (broken link,
#: link to a folder already listed, unreadable folder)
SkipHandler = Callable[[Path, str], None]


class SkippedEntryWarning(UserWarning):
    """A folder entry that could not be listed (broken symbolic link, link loop, unreadable folder)."""


def warn_skipped(path: Path, reason: str) -> None:
    """The default :data:`SkipHandler`: a warning (and a log line) naming the entry and why."""
    logger.warning("not listed: %s (%s)", path, reason)
    warnings.warn(f"not listed: {str(path)!r}: {reason}", SkippedEntryWarning, stacklevel=3)


def _walk(folder: Path, recursive: bool, excluded: set[tuple[int, int]], on_skip: SkipHandler) -> Iterator[Path]:
    """Files under ``folder``; symbolic links to folders are followed, each real folder once.

    Linked folders are searched after every real one, so a folder reached both directly and
    through a link is listed under its real path, whatever the names.
    """
    stack, linked = [folder], []
    seen: set[tuple[int, int]] = set()
    while stack or linked:
        current = stack.pop() if stack else linked.pop(0)
        try:
            status = current.stat()
        except OSError as error:
            on_skip(current, f"cannot open the folder ({error.strerror or error})")
            continue
        identity = (status.st_dev, status.st_ino)
        if identity in excluded:
            continue
        if identity in seen:
            if current.is_symlink():
                on_skip(current, f"symbolic link to {os.path.realpath(current)!r}, a folder already searched (a loop or a second link); not followed again")
            continue
        seen.add(identity)
        try:
            entries = sorted(current.iterdir())
        except OSError as error:
            on_skip(current, f"cannot list the folder ({error.strerror or error})")
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_symlink() and not entry.exists():
                on_skip(entry, f"broken symbolic link (points to {os.readlink(entry)!r}, which does not exist)")
            elif entry.is_dir():
                if recursive:
                    (linked if entry.is_symlink() else stack).append(entry)
            elif entry.is_file():
                yield entry


def list_image_files(
    folder: str | Path,
    recursive: bool = True,
    exclude: Iterable[str | Path] = (),
    on_skip: SkipHandler | None = None,
) -> list[Path]:
    """Sorted image files in ``folder`` (extensions: IMAGE_EXTENSIONS, case-insensitive).

    Sub-folders are searched when ``recursive``, symbolic links to folders included (each real
    folder once, so a link loop ends); names starting with ``.`` are hidden files and left out.
    Broken links and folders that cannot be read are not silently dropped: ``on_skip(path,
    reason)`` is called for each (default: :func:`warn_skipped`, a :class:`SkippedEntryWarning`).
    Folders in ``exclude`` (e.g. an output folder inside the input folder) are not searched.

    An LMDB folder (BasicSR layout, see :mod:`lmdb_source`) lists as ``folder/<key>`` entries that
    :func:`read_image` understands.

    FileNotFoundError when the folder does not exist, ValueError (naming it) when it is not a
    folder or holds no image file.
    """
    folder = Path(folder)
    if not folder.exists():
        if folder.is_symlink():
            raise FileNotFoundError(f"image folder {str(folder)!r} is a broken symbolic link (points to {os.readlink(folder)!r})")
        raise FileNotFoundError(f"image folder not found: {str(folder)!r}")
    if is_lmdb_folder(folder):
        return [folder / key for key in lmdb_keys(folder)]
    if not folder.is_dir():
        raise ValueError(f"expected a folder of images, {str(folder)!r} is a file")
    excluded = set()
    for path in exclude:
        try:
            status = Path(path).stat()
        except OSError:
            continue  # not there yet: nothing to leave out
        excluded.add((status.st_dev, status.st_ino))
    files = sorted(path for path in _walk(folder, recursive, excluded, on_skip or warn_skipped) if is_image_file(path))
    if not files:
        raise ValueError(f"image folder {str(folder)!r} contains no image files (looked for {', '.join(IMAGE_EXTENSIONS)})")
    return files


def resolve_image_paths(
    source: str | Path | Iterable[str | Path],
    recursive: bool = True,
    exclude: Iterable[str | Path] = (),
    on_skip: SkipHandler | None = None,
) -> list[Path]:
    """A folder → its images; a single image file → [it]; a list of files/folders → all, in order.

    ``exclude`` and ``on_skip``: see :func:`list_image_files`.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_file():
            return [path]
        return list_image_files(path, recursive=recursive, exclude=exclude, on_skip=on_skip)
    exclude = list(exclude)
    paths: list[Path] = []
    for item in source:
        paths.extend(resolve_image_paths(item, recursive=recursive, exclude=exclude, on_skip=on_skip))
    if not paths:
        raise ValueError("no image files given (the list of sources is empty)")
    return paths
