"""degplug.data."""
