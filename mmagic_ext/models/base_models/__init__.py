"""The base class the degplug editors share (as ``mmagic.models.base_models``)."""
