"""Optional LMDB storage in BasicSR's layout, for folders of many small files on slow disks.

A folder ``name.lmdb`` holds ``data.mdb`` and ``meta_info.txt`` (one line per image:
``<key>.png (h,w,c) <compression>``); each value is the encoded image file (PNG). Images inside
are addressed as ``name.lmdb/<key>``: :func:`~degplug.data.folders.list_image_files` lists them and
:func:`~degplug.data.image_io.read_image` reads them, so every dataset accepts an LMDB folder
wherever it accepts an image folder. Needs the ``lmdb`` package (a degplug dependency).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

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


def write_lmdb(image_paths: Iterable[str | Path], lmdb_folder: str | Path, map_size: int | None = None) -> Path:
    """Store image files (their encoded bytes, keyed by file stem) as a BasicSR-layout LMDB folder."""
    import lmdb

    from degplug.data.image_io import read_image

    paths = [Path(p) for p in image_paths]
    if not paths:
        raise ValueError("write_lmdb: no image files given")
    folder = Path(lmdb_folder)
    folder.mkdir(parents=True, exist_ok=True)
    total = sum(path.stat().st_size for path in paths)
    environment = lmdb.open(str(folder), map_size=map_size or max(10 * total, 1 << 20))
    lines = []
    with environment.begin(write=True) as transaction:
        for path in paths:
            image = read_image(path)  # validates the file before storing it
            if transaction.get(path.stem.encode()) is not None:
                raise ValueError(f"write_lmdb: two files share the key {path.stem!r} (e.g. {str(path)!r})")
            transaction.put(path.stem.encode(), path.read_bytes())
            lines.append(f"{path.stem}{path.suffix.lower()} ({image.shape[1]},{image.shape[2]},3) 1")
    environment.close()
    (folder / "meta_info.txt").write_text("\n".join(lines) + "\n")
    return folder
