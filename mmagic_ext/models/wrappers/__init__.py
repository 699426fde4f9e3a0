"""The model wrapper for degplug editors that average their own gradients (registered in ``MODEL_WRAPPERS``)."""
