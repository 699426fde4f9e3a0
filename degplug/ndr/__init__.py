"""degplug.ndr."""
