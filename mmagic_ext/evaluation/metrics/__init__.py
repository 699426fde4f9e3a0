"""The UDM and NDR metrics (as ``mmagic.evaluation.metrics``)."""
