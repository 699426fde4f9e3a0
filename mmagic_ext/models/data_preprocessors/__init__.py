"""The data preprocessor of the degplug editors (as ``mmagic.models.data_preprocessors``)."""
