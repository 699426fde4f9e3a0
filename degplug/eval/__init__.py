"""degplug.eval."""
