"""degplug's core datasets as MMagic datasets (as ``mmagic.datasets``)."""
