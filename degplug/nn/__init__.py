"""degplug.nn."""
