"""BasicSR adapter for degplug: importing it registers degplug's modules in BasicSR's registries.

The torchvision compatibility alias (see ``basicsr_ext.compat``) is installed before basicsr is
imported for the first time.
"""

from basicsr_ext import compat  # noqa: F401  (must run before any basicsr import)
from basicsr_ext.registration import register_all

register_all()

__all__ = ["register_all"]
