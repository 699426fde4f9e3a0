"""Optional LMDB storage in BasicSR's layout, for folders of many small files on slow disks.

A folder ``name.lmdb`` holds ``data.mdb`` and ``meta_info.txt`` (one line per image:
``<key>.png (h,w,c) <compression>``); each value is the encoded image file (PNG). Images inside
are addressed as ``name.lmdb/<key>``: :func:`~degplug.data.folders.list_image_files` lists them and
:func:`~degplug.data.image_io.read_image` reads them, so every dataset accepts an LMDB folder
wherever it accepts an image folder. This module reads raw bytes only (no image decoding), so
image_io can depend on it; :mod:`degplug.data.lmdb_writer` builds such folders. Needs the ``lmdb``
package (a degplug dependency).
"""

from __future__ import annotations

import os
from pathlib import Path

_ENVIRONMENTS: dict[tuple[int, str], object] = {}


def is_lmdb_folder(path: str | Path) -> bool:
    path = Path(path)
    return path.is_dir() and (path / "data.mdb").is_file()


def _environment(folder: Path):
    import lmdb

    # one read-only handle per process (LMDB handles must not cross a fork into DataLoader workers)
    key = (os.getpid(), str(folder.resolve()))
    if key not in _ENVIRONMENTS:
        _ENVIRONMENTS[key] = lmdb.open(str(folder), readonly=True, lock=False, readahead=False, meminit=False)
    return _ENVIRONMENTS[key]


def lmdb_keys(folder: str | Path) -> list[str]:
    """Keys in ``meta_info.txt`` order (sorted), or all keys of the database when it is missing."""
    folder = Path(folder)
    meta = folder / "meta_info.txt"
    if meta.is_file():
        keys = [Path(line.split(" ")[0]).stem for line in meta.read_text().splitlines() if line.strip()]
    else:
        with _environment(folder).begin(write=False) as transaction:
            keys = [key.decode() for key, _ in transaction.cursor()]
    if not keys:
        raise ValueError(f"LMDB folder {str(folder)!r} contains no images")
    return sorted(keys)


def read_lmdb_bytes(folder: str | Path, key: str) -> bytes:
    folder = Path(folder)
    with _environment(folder).begin(write=False) as transaction:
        value = transaction.get(key.encode())
    if value is None:
        raise FileNotFoundError(f"key {key!r} not found in LMDB folder {str(folder)!r}")
    return bytes(value)
