"""DegplugDataPreprocessor: stacks degplug's [0, 1] image dicts and moves them to the model's device.

One preprocessor for every degplug editor (UDM, NDR-Restore, blind restoration). It was first
named ``UDMDataPreprocessor``; that name stays registered (and importable) as an alias, so older
configs and checkpoints keep working.

MMagic's ``DataPreprocessor`` normalises uint8 images to [-1, 1] by default; degplug's datasets
already give float RGB in [0, 1] and its models expect exactly that, so this preprocessor only
stacks and casts, never rescales.
"""

from __future__ import annotations

from typing import Any

import torch
from mmengine.model import BaseDataPreprocessor

from degplug.data.device_batches import degrade_batch, is_device_batch


class DegplugDataPreprocessor(BaseDataPreprocessor):
    """``{'inputs': {key: list of 3×H×W or N×3×H×W}, 'data_samples': [...]}`` →
    ``{'inputs': {key: N×3×H×W float32 in [0, 1] on device}, 'data_samples': [...]}``.

    Images of one key must share a size within a batch (validation on whole images of different
    sizes needs ``batch_size=1``); the error names the key and the sizes found. Batches of a
    ``degrade_on='device'`` dataset (clean ``gt_region`` inputs) are degraded here, on the
    model's device, from the records and windows in the data samples' metainfo.
    """

    def forward(self, data: dict, training: bool = False) -> dict[str, Any]:
        if not isinstance(data, dict) or not isinstance(data.get("inputs"), dict):
            raise ValueError(
                "DegplugDataPreprocessor expects dict(inputs=dict(gt=..., lq=...), data_samples=...) as produced by "
                f"degplug's MMagic datasets, got {type(data.get('inputs') if isinstance(data, dict) else data).__name__}"
            )
        inputs = {}
        for key, value in data["inputs"].items():
            if isinstance(value, (list, tuple)):
                shapes = {tuple(v.shape) for v in value}
                if len(shapes) > 1:
                    raise ValueError(f"batch images of input {key!r} differ in size {sorted(shapes)}; use batch_size=1")
                value = torch.stack(list(value))
            if value.dim() == 3:
                value = value.unsqueeze(0)
            inputs[key] = value.float()
        inputs = self.cast_data(inputs)
        samples = data.get("data_samples")
        if is_device_batch(inputs):
            records = {key: [sample.metainfo[key] for sample in samples or []]
                       for key in ("params", "params_b", "window", "window_b", "positive_window")
                       if samples and key in samples[0].metainfo}
            degraded = degrade_batch({**inputs, **records})
            inputs = {key: value for key, value in degraded.items() if isinstance(value, torch.Tensor)}
        return {"inputs": inputs, "data_samples": samples}


# The first name of this class (configs written before the rename use it).
UDMDataPreprocessor = DegplugDataPreprocessor
