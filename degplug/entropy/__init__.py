"""degplug.entropy: learned densities and the rates of the degradation embeddings (docs/specification.md §1.4)."""

from degplug.entropy.factorized import FactorizedDensity, bits_from_likelihoods, split_aux_parameters
from degplug.entropy.global_rate import GlobalRateModel
from degplug.entropy.map_rate import DEFAULT_MAP_SCALE, MapRateModel
from degplug.entropy.residual_mlp import ResidualMLP

__all__ = [
    "DEFAULT_MAP_SCALE",
    "FactorizedDensity",
    "GlobalRateModel",
    "MapRateModel",
    "ResidualMLP",
    "bits_from_likelihoods",
    "split_aux_parameters",
]
