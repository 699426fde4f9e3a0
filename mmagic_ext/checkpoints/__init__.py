"""mmengine checkpoints: weights-only loading with an explicit allowlist, and the UDM file conversions that need mmengine."""
