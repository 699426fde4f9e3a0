"""The optimizer-wrapper constructor over an editor's parameter groups (as ``mmagic.engine.optimizers``)."""
