"""degplug.entropy."""
