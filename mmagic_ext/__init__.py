"""MMagic adapter for degplug: importing it registers degplug's modules in MMagic's registries.

Configs load it with ``custom_imports = dict(imports=['mmagic_ext'], allow_failed_imports=False)``.
"""

from mmagic_ext.registration import register_all

register_all()

__all__ = ["register_all"]
