"""A stand-in for a degplug editor under DegplugReplicaWrapper: it synchronises its own gradients and
echoes the steps it is given."""

from __future__ import annotations

from torch import nn


class SynchronisingLinear(nn.Linear):
    synchronises_gradients = True

    def train_step(self, data, optim_wrapper):
        return {"seen": (data, optim_wrapper)}

    def val_step(self, data):
        return ["val", data]

    def test_step(self, data):
        return ["test", data]
