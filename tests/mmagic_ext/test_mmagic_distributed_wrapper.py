"""DegplugReplicaWrapper: found by mmengine's Runner, passes steps through, starts ranks equal."""

import torch
from torch import nn

from mmagic_ext.models.wrappers.distributed_wrapper import DegplugReplicaWrapper
from tests.helpers.replica_modules import SynchronisingLinear


def test_runner_finds_the_wrapper_by_its_scoped_name_and_treats_it_as_a_wrapper():
    from mmengine.model import is_model_wrapper
    from mmengine.registry import MODEL_WRAPPERS, DefaultScope

    import mmagic_ext  # noqa: F401

    with DefaultScope.overwrite_default_scope("mmagic"):
        # mmengine's Runner.wrap_model looks the type up from the root registry, then builds it.
        assert MODEL_WRAPPERS.get("mmagic.DegplugReplicaWrapper") is DegplugReplicaWrapper
        wrapper = MODEL_WRAPPERS.build({"type": "mmagic.DegplugReplicaWrapper"}, default_args={"module": SynchronisingLinear(2, 2)})
    assert isinstance(wrapper, DegplugReplicaWrapper) and is_model_wrapper(wrapper)
    assert not isinstance(wrapper, nn.parallel.DistributedDataParallel)  # so the Runner adds no device ids


def test_steps_and_forward_pass_through_to_the_module():
    module = SynchronisingLinear(2, 3)
    wrapper = DegplugReplicaWrapper(module)
    assert wrapper.module is module
    assert wrapper.train_step("d", optim_wrapper="o") == {"seen": ("d", "o")}
    assert wrapper.val_step(1) == ["val", 1] and wrapper.test_step(2) == ["test", 2]
    x = torch.rand(4, 2)
    assert torch.equal(wrapper(x), module(x))


def test_single_process_accepts_a_model_that_does_not_synchronise():
    plain = nn.Linear(2, 2)
    assert DegplugReplicaWrapper(plain).module is plain

# The 2-rank broadcast/refusal check spawns processes that import MMagic (slow): see
# tests/mmagic_ext/test_distributed_mmagic.py.
