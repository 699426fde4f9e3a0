"""degplug.degradations."""
