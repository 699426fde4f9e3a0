"""degplug.nn: reusable layers (IDA, IDA-SFT, IDA-SFT residual block, ...)."""

from degplug.nn.ida import IDALayer
from degplug.nn.ida_sft import IDASFTLayer
from degplug.nn.ida_sft_block import IDASFTResBlock

__all__ = ["IDALayer", "IDASFTLayer", "IDASFTResBlock"]
