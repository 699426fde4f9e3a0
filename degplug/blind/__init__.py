"""degplug.blind: make non-blind restorers blind with a trained UDM (docs/specification.md §4).

- :class:`BlindWrapper` (operator and data modes, tiled inference);
- the operator protocol (:mod:`degplug.blind.protocol`) and :class:`PlugAndPlayHQS`, a shipped
  operator-based restorer with any denoiser as prior;
- :class:`LatentPoolPairSynthesizer`, the data-mode pair maker the BasicSR/MMagic adapters use;
- :mod:`degplug.blind.restorer_factory`, building restorers from framework registry configs.
"""

from degplug.blind.denoisers import GaussianDenoiser, NonLocalMeansDenoiser
from degplug.blind.operator import EstimatedOperator
from degplug.blind.plug_and_play import PlugAndPlayHQS
from degplug.blind.pool_pairs import LatentPoolPairSynthesizer
from degplug.blind.protocol import OperatorRestorer, identity_operator, is_operator_restorer
from degplug.blind.restorer_factory import build_restorer, register_restorer_builder
from degplug.blind.wrapper import BlindWrapper

__all__ = [
    "BlindWrapper", "EstimatedOperator", "GaussianDenoiser", "LatentPoolPairSynthesizer", "NonLocalMeansDenoiser",
    "OperatorRestorer", "PlugAndPlayHQS", "build_restorer", "identity_operator", "is_operator_restorer",
    "register_restorer_builder",
]
