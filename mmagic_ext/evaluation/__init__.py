"""Evaluation for MMagic's test and validation loops (as ``mmagic.evaluation``)."""
