"""Write image files into an LMDB folder in BasicSR's layout (the folder :mod:`lmdb_source` reads).

Kept apart from :mod:`degplug.data.lmdb_source` because writing validates each image by decoding
it (:func:`~degplug.data.image_io.read_image`), while reading from an LMDB folder is what
:mod:`degplug.data.image_io` itself builds on.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from degplug.data.image_io import read_image
from degplug.utils.atomic import atomic_write_text


def write_lmdb(image_paths: Iterable[str | Path], lmdb_folder: str | Path, map_size: int | None = None) -> Path:
    """Store image files (their encoded bytes, keyed by file stem) as a BasicSR-layout LMDB folder."""
    import lmdb

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
    atomic_write_text(folder / "meta_info.txt", "\n".join(lines) + "\n")
    return folder
