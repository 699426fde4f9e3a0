"""degplug.losses: every loss of the project, each usable from BasicSR and MMagic unchanged."""

from degplug.losses.color import ColorLoss, gaussian_blur_reflect, min_max_normalize
from degplug.losses.contrastive import ContrastiveLoss
from degplug.losses.dists import DISTS, DISTSBackbone, DISTSLoss, L2Pooling
from degplug.losses.diversity import DiversityLoss
from degplug.losses.ssim import MS_SSIM_WEIGHTS, gaussian_window, ms_ssim, ssim, ssim_contrast_structure
from degplug.losses.wgan_gp import (
    GradientPenaltyLoss,
    WGANDiscriminatorLoss,
    WGANGeneratorLoss,
    gradient_penalty,
    wgan_discriminator_loss,
    wgan_generator_loss,
)
from degplug.losses.loss_weights import UDMLossWeights

__all__ = [
    "DISTS",
    "DISTSBackbone",
    "DISTSLoss",
    "MS_SSIM_WEIGHTS",
    "ColorLoss",
    "ContrastiveLoss",
    "DiversityLoss",
    "GradientPenaltyLoss",
    "L2Pooling",
    "UDMLossWeights",
    "WGANDiscriminatorLoss",
    "WGANGeneratorLoss",
    "gaussian_blur_reflect",
    "gaussian_window",
    "gradient_penalty",
    "min_max_normalize",
    "ms_ssim",
    "ssim",
    "ssim_contrast_structure",
    "wgan_discriminator_loss",
    "wgan_generator_loss",
]
