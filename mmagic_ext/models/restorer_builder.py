"""The ``"mmagic"`` restorer builder of :mod:`degplug.blind.restorer_factory`.

The factory names this function in its table (``"mmagic_ext.models.restorer_builder:build_restorer"``)
and imports it on first use, so ``BlindWrapper({"framework": "mmagic", "type": "NAFNet", ...})``
needs no ``import mmagic_ext`` beforehand (importing this module imports ``mmagic_ext``, which
registers MMagic's modules and degplug's).
"""

from __future__ import annotations


def build_restorer(config: dict):
    """``{"type": <mmagic MODELS name>, **kwargs}`` → the arch (``MODELS.build``)."""
    from mmagic.registry import MODELS

    name = config.get("type")
    if MODELS.get(name) is None:
        raise ValueError(f"restorer config (framework 'mmagic'): {name!r} is not in MMagic's MODELS registry")
    return MODELS.build(dict(config))
