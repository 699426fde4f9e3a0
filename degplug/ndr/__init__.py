"""NDR-Restore (docs/specification.md §2): degradation dictionary, query, injection, restoration and degradation nets.

Submodules: ``dictionary``, ``query``, ``injection``, ``restore_net``, ``degrad_net``, ``training``
(the bidirectional objective) and ``padding`` (test-time pad, restore, crop). The test protocol's
scores are :mod:`degplug.eval.ndr_protocol`'s.
"""

from degplug.ndr.degrad_net import NDRDegradNet
from degplug.ndr.dictionary import NeuralDegradationDictionary
from degplug.ndr.injection import DegradationInjection
from degplug.ndr.query import DegradationQuery
from degplug.ndr.restore_net import NDRRestoreNet
from degplug.ndr.training import NDRTrainingStep, make_optimizers, parameter_groups

__all__ = [
    "DegradationInjection",
    "DegradationQuery",
    "NDRDegradNet",
    "NDRRestoreNet",
    "NDRTrainingStep",
    "NeuralDegradationDictionary",
    "make_optimizers",
    "parameter_groups",
]
