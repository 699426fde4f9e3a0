"""Hooks: checkpoint export and the UDM transfer panel (as ``mmagic.engine.hooks``)."""
