"""Where degplug looks for pretrained weight files, in one place.

Nothing is downloaded at run time by degplug. Every file lives in torch's hub cache
(``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/checkpoints``) unless an explicit
path is passed to the class that uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass(frozen=True)
class WeightFile:
    filename: str
    source: str
    used_by: str


KNOWN_WEIGHTS: dict[str, WeightFile] = {
    "vgg16": WeightFile(
        "vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth", "DISTS loss and metric"
    ),
    "dists": WeightFile(
        "DISTS_weights.pt",
        "https://github.com/dingkeyan93/DISTS (DISTS_pytorch/weights.pt, renamed)",
        "DISTS loss and metric (alpha/beta)",
    ),
    "alexnet": WeightFile(
        "alexnet-owt-7be5be79.pth",
        "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        "LPIPS metric backbone (its linear heads ship inside the lpips package)",
    ),
}


def checkpoint_dir() -> Path:
    """torch's hub checkpoint folder, where every pretrained file is looked up by default."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def weight_path(name: str) -> Path:
    """The default location of the known weight file ``name`` (see ``KNOWN_WEIGHTS``)."""
    if name not in KNOWN_WEIGHTS:
        raise KeyError(f"unknown weight file {name!r}; known: {', '.join(KNOWN_WEIGHTS)}")
    return checkpoint_dir() / KNOWN_WEIGHTS[name].filename


def require_weight_file(name: str, explicit_path: str | Path | None = None) -> Path:
    """Return the path of weight file ``name``, or raise FileNotFoundError saying where it goes."""
    path = Path(explicit_path) if explicit_path is not None else weight_path(name)
    if not path.is_file():
        spec = KNOWN_WEIGHTS[name]
        raise FileNotFoundError(
            f"pretrained weight file for {spec.used_by} not found: {path}. "
            f"Download it from {spec.source} and place it at {path} (or pass its path explicitly); "
            "for a test run without it, use the explicit pretrained=False option (random backbone)."
        )
    return path
