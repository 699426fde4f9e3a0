"""degplug: learned image-degradation modelling (UDM) and all-in-one restoration (NDR-Restore).

The top-level names are imported on first use (PEP 562), so ``import degplug`` loads no
submodule and not even torch::

    from degplug import UniversalDegradationModel, NDRRestoreNet, BlindWrapper, DegradationPipeline
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> the module that defines it
_LAZY_EXPORTS = {
    "UniversalDegradationModel": "degplug.udm.model",
    "NDRRestoreNet": "degplug.ndr.restore_net",
    "BlindWrapper": "degplug.blind.wrapper",
    "DegradationPipeline": "degplug.degradations.pipeline",
}

__all__ = ["__version__", *_LAZY_EXPORTS]


def __getattr__(name: str):
    module = _LAZY_EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'degplug' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_EXPORTS))
