"""Reading torch files (checkpoints, latent pools, embeddings): weights only, errors in one line.

:func:`load_weights_only` is ``torch.load(path, weights_only=True)``: tensors and plain Python
containers only, so a file carrying pickled code is refused, never run. torch's own messages span
paragraphs and advise ``weights_only=False`` (which would run such code); here every failure is one
:class:`TorchFileError` (a ValueError) naming the file, what it was read as, and why (empty,
truncated, corrupt, refused). A framework whose files hold a few known non-tensor types (mmengine's
message hub) passes them as ``allowed_globals``, an explicit allowlist; nothing else is unpickled.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


class TorchFileError(ValueError):
    """A torch file cannot be used (the message names the file and says why)."""


class TorchFileRefused(TorchFileError):
    """A torch file holds Python objects that weights-only reading does not allow."""


def load_weights_only(
    path: str | Path, what: str, map_location: str | torch.device | None = "cpu", allowed_globals: Sequence[Any] = ()
) -> Any:
    """``torch.load(path, weights_only=True)``; :class:`TorchFileError` naming ``path`` and ``what`` on failure.

    ``allowed_globals``: classes/functions the file may reference besides tensors and Python
    containers (``torch.serialization.safe_globals``). FileNotFoundError when the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist")
    if path.stat().st_size == 0:
        raise TorchFileError(f"{path}: cannot read {what}: the file is empty (0 bytes)")
    try:
        with torch.serialization.safe_globals(list(allowed_globals)):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        text = str(error)
        found = _GLOBAL.search(text)
        if found:
            raise TorchFileRefused(
                f"{path}: refused ({what}): it holds a Python object ({found.group(1)}) besides tensors, and "
                "unpickling it could run code stored in the file; degplug reads weights-only files"
            ) from None
        detail = text.strip().splitlines()[-1] if "Weights only load failed" not in text else _last_reason(text)
        raise TorchFileError(f"{path}: cannot read {what}: the file is corrupt or not a torch file ({detail})") from None
    except Exception as error:  # noqa: BLE001 (torch.load raises many kinds on damaged data: zip, struct, EOF, Runtime...)
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        first = first.split(". This is an internal miniz error")[0]
        raise TorchFileError(f"{path}: cannot read {what}: the file is truncated or corrupt ({first})") from None


def _last_reason(text: str) -> str:
    """The WeightsUnpickler's own reason inside torch's long message (e.g. 'Unsupported operand 255')."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if line.startswith("Please file an issue") or "WeightsUnpickler error" in line:
            tail = [rest for rest in lines[index + 1:] if not rest.startswith("Check the documentation")]
            if tail:
                return tail[0]
    return "unreadable pickle data"


def state_dict_mismatch(error: BaseException, shown: int = 2) -> str:
    """One line from ``load_state_dict``'s multi-line RuntimeError: the first mismatches and a count."""
    lines = [line.strip() for line in str(error).splitlines()[1:] if line.strip()]
    if not lines:
        return (str(error).strip().splitlines() or [type(error).__name__])[0]
    more = f"; and {len(lines) - shown} more" if len(lines) > shown else ""
    return "; ".join(line.rstrip(".") for line in lines[:shown]) + more
