"""degplug: learned image-degradation modelling (UDM) and all-in-one restoration (NDR-Restore)."""

__version__ = "0.1.0"
