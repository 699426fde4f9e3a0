"""degplug.cli."""
