"""The one place where degplug makes basicsr 1.4.2 importable on current torchvision.

basicsr 1.4.2 (``basicsr/data/degradations.py``) imports
``torchvision.transforms.functional_tensor``, a module torchvision removed in 0.17. The
function it needs (``rgb_to_grayscale``) lives on in ``torchvision.transforms.functional``, so
the old module name is aliased to that one before the first ``import basicsr``. Every entry point
of ``basicsr_ext`` imports this module first; user code that imports basicsr directly should
``import basicsr_ext`` (or ``basicsr_ext.compat``) before it.
"""

from __future__ import annotations

import importlib
import sys

_REMOVED_MODULE = "torchvision.transforms.functional_tensor"


def install_torchvision_alias() -> None:
    """Alias the removed torchvision module name, once; harmless if torchvision still has it."""
    if _REMOVED_MODULE in sys.modules:
        return
    try:
        importlib.import_module(_REMOVED_MODULE)
    except ModuleNotFoundError:
        sys.modules[_REMOVED_MODULE] = importlib.import_module("torchvision.transforms.functional")


install_torchvision_alias()
