"""The ``"basicsr"`` restorer builder of :mod:`degplug.blind.restorer_factory`.

The factory names this function in its table (``"basicsr_ext.restorer_builder:build_restorer"``)
and imports it on first use, so ``BlindWrapper({"framework": "basicsr", "type": "SwinIR", ...})``
needs no ``import basicsr_ext`` beforehand; importing this module registers degplug's modules too.
"""

from __future__ import annotations

from basicsr_ext import compat  # noqa: F401  (before the first basicsr import)


def build_restorer(config: dict):
    """``{"type": <ARCH_REGISTRY name>, **kwargs}`` → the arch (BasicSR's ``build_network``)."""
    import basicsr.archs  # noqa: F401  (registers BasicSR's own archs)
    from basicsr.archs import build_network
    from basicsr.utils.registry import ARCH_REGISTRY

    name = config.get("type")
    if name not in ARCH_REGISTRY:
        raise ValueError(f"restorer config (framework 'basicsr'): {name!r} is not in BasicSR's ARCH_REGISTRY")
    return build_network(dict(config))
