"""Trained models shipped inside the package, loadable by a short name.

``small``: ``udm_small.pth``, a small UniversalDegradationModel trained on the CPU with
``options/train/UDM/train_UDM_small_embedded.yml`` on the photographs embedded in scikit-image and matplotlib (see
``MODEL_CARD.md`` next to it for the training command, data, iterations, time and its fidelity
table). Every place that takes a UDM checkpoint path also takes one of these names:

    degplug transfer --ckpt small --ref degraded.png --input clean.png --out out.png
    UniversalDegradationModel.from_checkpoint("small")
    BlindWrapper(restorer, udm="small")

A path always wins: an existing file called ``small`` in the working directory is loaded as a file.
"""

from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent

#: short name → file name inside this package
SHIPPED_UDM_CHECKPOINTS = {"small": "udm_small.pth"}


def shipped_udm_names() -> list[str]:
    return sorted(SHIPPED_UDM_CHECKPOINTS)


def resolve_udm_checkpoint(path_or_name: str | Path) -> Path:
    """The checkpoint file for ``path_or_name``: the path itself, or the shipped model it names.

    An existing file is returned as is; otherwise a short name of :data:`SHIPPED_UDM_CHECKPOINTS`
    gives the file inside the package (FileNotFoundError if the installation lacks it). Anything
    else comes back unchanged, for the caller's own "does not exist" error.
    """
    path = Path(path_or_name)
    if path.is_file():
        return path
    name = str(path_or_name)
    if name in SHIPPED_UDM_CHECKPOINTS:
        shipped = MODELS_DIR / SHIPPED_UDM_CHECKPOINTS[name]
        if not shipped.is_file():
            raise FileNotFoundError(
                f"the shipped UDM {name!r} ({shipped}) is missing from this installation; reinstall degplug "
                f"or pass a checkpoint path"
            )
        return shipped
    return path
