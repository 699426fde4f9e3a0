"""degplug.losses."""
