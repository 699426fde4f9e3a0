"""Load a UDM for BlindWrapper and its training adapters: eval mode, no gradients, clear errors."""

from __future__ import annotations

from pathlib import Path

import torch

from degplug.udm.model import UniversalDegradationModel


def load_frozen_udm(udm: "str | Path | UniversalDegradationModel", argument: str = "udm") -> UniversalDegradationModel:
    """A frozen UniversalDegradationModel from a checkpoint path or a model.

    Frozen means eval mode (rounded embeddings, no training noise) and ``requires_grad=False`` on
    every parameter, so no optimiser can update it and no gradient is stored in it.

    Raises FileNotFoundError for a missing file and ValueError, naming ``argument`` and the file,
    for a checkpoint of another kind, version or shape.
    """
    if isinstance(udm, UniversalDegradationModel):
        model = udm
    elif isinstance(udm, (str, Path)):
        from degplug.models import resolve_udm_checkpoint

        path = resolve_udm_checkpoint(udm)  # a path, or the short name of a shipped model ("small")
        if not path.is_file():
            raise FileNotFoundError(f"{argument}: UDM checkpoint {str(path)!r} does not exist (train one with `basicsr train -opt options/train/UDM/train_UDM_demo_embedded.yml`)")
        try:
            model = UniversalDegradationModel.from_checkpoint(path)
        except ValueError as error:
            raise ValueError(f"{argument}: {error}") from error
        except (RuntimeError, KeyError, TypeError) as error:  # e.g. tensor size mismatches
            raise ValueError(
                f"{argument}: UDM checkpoint {str(path)!r} does not fit the model its config describes "
                f"(wrong shape?): {str(error).splitlines()[0][:300]}"
            ) from error
    else:
        raise ValueError(f"{argument}: expected a UDM checkpoint path or a UniversalDegradationModel, got {type(udm).__name__}")
    model.eval()
    model.requires_grad_(False)
    return model


def frozen_udm_on(model: UniversalDegradationModel, device: torch.device) -> UniversalDegradationModel:
    """Move the frozen model to ``device`` (no-op when it is already there)."""
    parameter = next(model.parameters(), None)
    if parameter is not None and parameter.device != device:
        model.to(device)
    return model
