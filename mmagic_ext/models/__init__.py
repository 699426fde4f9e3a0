"""MMagic models: the editors, their base class, the data preprocessor and the model wrapper (as in ``mmagic.models``)."""
