"""Real photographs shipped inside installed packages: default data that works offline.

Sources: scikit-image's bundled data folder (``skimage.data``) and matplotlib's
``mpl-data/sample_data``. Only real colour photographs are used by default; synthetic charts,
logos, text pages and binary silhouettes are excluded. ``include_gray=True`` adds the grayscale
photographs (read as RGB with equal channels).

Held-out validation set (fixed, never in 'train'): ``coffee`` (scikit-image) and
``grace_hopper`` (matplotlib). The stereo pair ``motorcycle_left/right`` stays together in 'train'
so no near-duplicate leaks across the split.
"""

from __future__ import annotations

from pathlib import Path

from degplug.data.image_io import read_image, write_image

# name -> file name inside skimage's data folder
SKIMAGE_COLOR_PHOTOS = {
    "astronaut": "astronaut.png",
    "chelsea": "chelsea.png",
    "coffee": "coffee.png",
    "rocket": "rocket.jpg",
    "motorcycle_left": "motorcycle_left.png",
    "motorcycle_right": "motorcycle_right.png",
    "hubble_deep_field": "hubble_deep_field.jpg",
    "retina": "retina.jpg",
    "immunohistochemistry": "ihc.png",
}
SKIMAGE_GRAY_PHOTOS = {
    "camera": "camera.png",
    "moon": "moon.png",
    "coins": "coins.png",
    "brick": "brick.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
}
MATPLOTLIB_PHOTOS = {"grace_hopper": "grace_hopper.jpg"}
VALIDATION_NAMES = ("coffee", "grace_hopper")
SPLITS = ("train", "val", "all")


def _skimage_data_dir() -> Path | None:
    try:
        import skimage.data
    except ImportError:
        return None
    legacy = getattr(skimage.data, "legacy_data_dir", None)
    folder = Path(legacy) if legacy else Path(skimage.data.__file__).parent
    return folder if folder.is_dir() else None


def _matplotlib_data_dir() -> Path | None:
    try:
        import matplotlib
    except ImportError:
        return None
    folder = Path(matplotlib.get_data_path()) / "sample_data"
    return folder if folder.is_dir() else None


def embedded_photos(include_gray: bool = False) -> dict[str, Path]:
    """Every embedded photograph found in the installed packages: name → file path, sorted by name."""
    found: dict[str, Path] = {}
    skimage_dir = _skimage_data_dir()
    if skimage_dir is not None:
        table = {**SKIMAGE_COLOR_PHOTOS, **(SKIMAGE_GRAY_PHOTOS if include_gray else {})}
        for name, file_name in table.items():
            if (skimage_dir / file_name).is_file():
                found[name] = skimage_dir / file_name
    matplotlib_dir = _matplotlib_data_dir()
    if matplotlib_dir is not None:
        for name, file_name in MATPLOTLIB_PHOTOS.items():
            if (matplotlib_dir / file_name).is_file():
                found[name] = matplotlib_dir / file_name
    return dict(sorted(found.items()))


def embedded_photo_paths(split: str = "train", include_gray: bool = False) -> list[Path]:
    """Paths of the embedded photographs in ``split`` ('train', 'val' or 'all').

    Raises FileNotFoundError when the packages hold none (scikit-image/matplotlib missing).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    photos = embedded_photos(include_gray=include_gray)
    if not photos:
        raise FileNotFoundError(
            "no embedded photographs found: install scikit-image and matplotlib (both are degplug dependencies)"
        )
    if split == "val":
        return [path for name, path in photos.items() if name in VALIDATION_NAMES]
    if split == "train":
        return [path for name, path in photos.items() if name not in VALIDATION_NAMES]
    return list(photos.values())


def export_embedded_photos(folder: str | Path, split: str = "all", include_gray: bool = False) -> list[Path]:
    """Write the embedded photographs of ``split`` as RGB PNGs ``<folder>/<name>.png``; returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    selected = set(map(str, embedded_photo_paths(split, include_gray=include_gray)))
    written = []
    for name, path in embedded_photos(include_gray=include_gray).items():
        if str(path) in selected:
            written.append(write_image(folder / f"{name}.png", read_image(path)))
    return written
