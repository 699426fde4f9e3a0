"""Options every UDM verb shares (``--ckpt``, ``--device``, ``--no-progress``) and model loading."""

from __future__ import annotations

import argparse

import torch

from degplug.udm.model import UniversalDegradationModel


def add_udm_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, help="UDM checkpoint written by UniversalDegradationModel.save_checkpoint or training")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None, help="where to run (default: cuda if available, else cpu)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def resolve_device(name: str | None) -> torch.device:
    """``None`` → cuda if available else cpu; ``"cuda"`` without a GPU → ValueError."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available (torch.cuda.is_available() is False); use --device cpu")
    return torch.device(name)


def load_udm(args: argparse.Namespace) -> tuple[UniversalDegradationModel, torch.device]:
    """The model of ``--ckpt`` in eval mode on ``--device``, and that device."""
    device = resolve_device(args.device)
    model = UniversalDegradationModel.from_checkpoint(args.ckpt, map_location="cpu")
    return model.to(device).eval(), device
