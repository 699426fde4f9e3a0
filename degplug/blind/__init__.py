"""degplug.blind."""
