"""Training-loop pieces: hooks and optimizer-wrapper constructors (as ``mmagic.engine``)."""
