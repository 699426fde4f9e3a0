"""degplug: learned image-degradation modelling (UDM) and all-in-one restoration (NDR-Restore)."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # BlindWrapper is imported on first use, so `import degplug` stays light.
    if name == "BlindWrapper":
        from degplug.blind.wrapper import BlindWrapper

        return BlindWrapper
    raise AttributeError(f"module 'degplug' has no attribute {name!r}")
