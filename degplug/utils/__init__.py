"""degplug.utils."""
