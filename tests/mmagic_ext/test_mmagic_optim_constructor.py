"""ParameterGroupsOptimWrapperConstructor: one constructor for the UDM and NDR editors, under three names."""

import pytest

pytest.importorskip("mmagic")

from tests.helpers.mmagic_udm import tiny_editor


pytestmark = pytest.mark.usefixtures("one_thread")  # one torch thread, tests/conftest.py


def _build(name, editor, **settings):
    from mmagic.registry import OPTIM_WRAPPER_CONSTRUCTORS

    return OPTIM_WRAPPER_CONSTRUCTORS.build(dict(type=name, optim_wrapper_cfg=settings))(editor)


def _hyper(optim):
    """Per optimizer: its class and, per parameter group, the parameter ids and hyperparameters."""
    return {
        name: (type(wrapper.optimizer).__name__,
               [({id(p) for p in group["params"]}, group["lr"], group["betas"], group["eps"])
                for group in wrapper.optimizer.param_groups])
        for name, wrapper in optim.items()
    }


def test_the_config_names_are_one_class():
    import mmagic_ext  # noqa: F401
    from mmagic.registry import OPTIM_WRAPPER_CONSTRUCTORS

    classes = {OPTIM_WRAPPER_CONSTRUCTORS.get(name) for name in
               ("ParameterGroupsOptimWrapperConstructor", "UDMOptimWrapperConstructor", "NDROptimWrapperConstructor")}
    assert len(classes) == 1 and None not in classes


def test_udm_shared_settings_with_overrides_build_what_the_same_settings_per_section_build():
    editor = tiny_editor(gan=0.05)
    per_section = _hyper(_build(
        "UDMOptimWrapperConstructor", editor,
        generator=dict(optimizer=dict(type="Adam", lr=2e-4, eps=1e-3)),
        entropy=dict(optimizer=dict(type="Adam", lr=1e-3, eps=1e-3)),
        discriminator=dict(optimizer=dict(type="Adam", lr=2e-4, eps=1e-3, betas=(0.5, 0.999)))))
    shared = _hyper(_build(
        "ParameterGroupsOptimWrapperConstructor", editor,
        optimizer=dict(type="Adam", lr=2e-4, eps=1e-3),
        discriminator=dict(optimizer=dict(betas=(0.5, 0.999)))))
    # the entropy default (Adam lr 1e-3) overrides the shared lr and keeps the shared eps
    assert shared == per_section
    # the rate models keep their own lr in the generator's optimizer
    assert per_section["entropy"][1][0][1] == 1e-3
    generator_lrs = sorted(group[1] for group in per_section["generator"][1])
    assert len(generator_lrs) == 2 and 2e-4 in generator_lrs and generator_lrs != [2e-4, 2e-4]
    assert per_section["discriminator"][1][0][2] == (0.5, 0.999)


@pytest.mark.parametrize("key", ["generater", "discriminator"])
def test_a_key_that_is_neither_a_setting_nor_a_group_of_the_model_is_an_error_naming_it(key):
    editor = tiny_editor(gan=0.0)  # no critic: the discriminator group is empty
    with pytest.raises(ValueError, match=f"no parameter group for \\['{key}'\\]"):
        _build("UDMOptimWrapperConstructor", editor, generator=dict(optimizer=dict(type="Adam", lr=1e-4)),
               **{key: dict(optimizer=dict(type="Adam", lr=1e-4))})


def test_an_optimizer_without_settings_or_type_is_an_error_naming_it():
    editor = tiny_editor(gan=0.0)
    with pytest.raises(ValueError, match="missing settings for the 'generator' optimizer"):
        _build("UDMOptimWrapperConstructor", editor)
    with pytest.raises(ValueError, match="'generator' optimizer needs a 'type'"):
        _build("UDMOptimWrapperConstructor", editor, generator=dict(optimizer=dict(lr=1e-4)))
