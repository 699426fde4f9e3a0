import pytest

from degplug.losses import UDMLossWeights


def test_loss_weights_defaults_are_the_spec_values():
    weights = UDMLossWeights()
    assert weights.to_dict() == {
        "similarity": 1.0,
        "l1": 0.0,
        "local_stats": 0.0,  # an option beside DISTS, off in the paper's objective
        "rate_g": 1e-4,
        "rate_l": 1.0,
        "contrastive": 1e-4,
        "color": 1.0,
        "diversity": 1.0,
        "gan": 0.05,
        "gp": 10.0,
        "entropy_aux": 1.0,
    }


def test_loss_weights_from_partial_dict_keeps_other_defaults_and_parses_strings():
    weights = UDMLossWeights.from_dict({"gan": 10, "rate_g": "1e-3"})
    assert weights.gan == 10.0 and weights.rate_g == 1e-3
    assert weights.similarity == 1.0 and weights.gp == 10.0
    assert UDMLossWeights.from_dict(None) == UDMLossWeights()


def test_loss_weights_from_dict_rejects_unknown_key_by_name():
    with pytest.raises(ValueError, match="'colour'"):
        UDMLossWeights.from_dict({"colour": 1.0})


def test_loss_weights_from_dict_rejects_non_numbers():
    with pytest.raises(ValueError, match="'gan'"):
        UDMLossWeights.from_dict({"gan": "lots"})
