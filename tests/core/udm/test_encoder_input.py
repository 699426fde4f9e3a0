"""The encoders' optional high-pass input band (degplug.udm.encoder_input, UDMConfig.encoder_highpass_gain)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from degplug.udm.config import UDMConfig
from degplug.udm.encoder_input import HighPassInput
from degplug.udm.hden import HomogeneousEncoder
from degplug.udm.iden import InhomogeneousEncoder
from degplug.udm.model import UniversalDegradationModel


def test_band_is_gain_times_image_minus_its_3x3_mean_with_mirrored_borders():
    image = torch.rand(2, 3, 11, 14, generator=torch.Generator().manual_seed(0))
    out = HighPassInput(gain=7.5)(image)
    assert out.shape == (2, 6, 11, 14)
    torch.testing.assert_close(out[:, :3], image)
    # independent reference: scipy's 3×3 uniform filter; torch's "reflect" is scipy's "mirror"
    mean = ndimage.uniform_filter(image.double().numpy(), size=(1, 1, 3, 3), mode="mirror")
    expected = 7.5 * (image.double().numpy() - mean)
    np.testing.assert_allclose(out[:, 3:].double().numpy(), expected, atol=1e-5)


def test_band_vanishes_on_flat_images_and_gain_zero_is_the_image_itself():
    flat = torch.full((1, 3, 9, 9), 0.4)
    assert HighPassInput(gain=10)(flat)[:, 3:].abs().max() < 1e-6
    image = torch.rand(1, 3, 9, 9)
    assert HighPassInput(gain=0)(image) is image
    assert HighPassInput(gain=0).out_channels == 3
    with pytest.raises(ValueError, match="gain must be >= 0"):
        HighPassInput(gain=-1)


def test_band_is_larger_on_a_noisy_image_than_on_a_blurred_one():
    generator = torch.Generator().manual_seed(1)
    image = torch.rand(1, 3, 32, 32, generator=generator)
    blurred = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(image, (2, 2, 2, 2), mode="reflect"), 5, stride=1)
    band = HighPassInput(gain=10)
    assert band(blurred)[:, 3:].abs().mean() < 0.5 * band(image)[:, 3:].abs().mean()


@pytest.mark.parametrize("encoder_class", [HomogeneousEncoder, InhomogeneousEncoder])
def test_encoders_read_six_channels_with_the_band_and_keep_their_output_shapes(encoder_class):
    plain = encoder_class(width=4, long_kernel=5).eval()
    banded = encoder_class(width=4, long_kernel=5, highpass_gain=10.0).eval()
    assert banded.short_range[0][0].in_channels == 6
    assert banded.long_range.layers[0][0].in_channels == 6
    assert plain.short_range[0][0].in_channels == 3
    image = torch.rand(2, 3, 24, 20)
    with torch.no_grad():
        assert banded(image).shape == plain(image).shape


def test_config_option_round_trips_through_a_checkpoint_and_is_checked():
    model = UniversalDegradationModel(**UDMConfig.small(encoder_highpass_gain=10.0).to_dict())
    reloaded = UniversalDegradationModel.from_checkpoint_state(model.checkpoint_state())
    assert reloaded.config.encoder_highpass_gain == 10.0
    assert reloaded.hden.input_bands.gain == 10.0 and reloaded.iden.input_bands.gain == 10.0
    # a checkpoint saved before the option existed reads the image only
    state = model.checkpoint_state()
    del state["config"]["encoder_highpass_gain"]
    with pytest.raises(ValueError, match="do not match"):
        UniversalDegradationModel.from_checkpoint_state(state)
    with pytest.raises(ValueError, match="encoder_highpass_gain"):
        UDMConfig.small(encoder_highpass_gain=-2.0)
    with pytest.raises(ValueError, match="encoder_highpass_gain"):
        UDMConfig(architecture="official", encoder_highpass_gain=10.0)
