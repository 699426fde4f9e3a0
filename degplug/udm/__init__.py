"""degplug.udm."""
