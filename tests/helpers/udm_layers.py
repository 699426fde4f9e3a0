"""Shared helpers for the UDM layer/network tests (not a test module)."""

from __future__ import annotations

import torch
from torch import nn


def perturb_parameters(module: nn.Module, seed: int = 0, scale: float = 0.05) -> nn.Module:
    """Add seeded noise to every parameter, so zero-initialised layers contribute."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(scale * torch.randn(parameter.shape, generator=generator))
    return module


def parameters_without_grad(module: nn.Module) -> list[str]:
    """Names of parameters whose .grad is missing or all zero after a backward pass."""
    return [
        name
        for name, parameter in module.named_parameters()
        if parameter.grad is None or not torch.any(parameter.grad != 0)
    ]


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
