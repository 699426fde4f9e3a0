"""DegplugEditor: what degplug's MMagic editors share (wiring only, no loss math).

- ``_iteration()``: the 1-based training iteration from mmengine's message hub (a local counter
  when no Runner drives training), for per-iteration random generators;
- ``val_step``/``test_step``: the subclass's ``_data_samples(data)`` (DataSamples with images in
  [0, 255] for MMagic's metrics and visualizers);
- ``forward(mode='tensor'|'predict')``: ``_tensor_output(inputs)`` or the DataSamples; training
  always goes through ``train_step``.
"""

from __future__ import annotations

from mmengine.model import BaseModel


def refuse_amp_wrappers(optim_wrapper, editor: str) -> None:
    """ValueError when an optimizer of ``optim_wrapper`` is an ``AmpOptimWrapper``: degplug's
    editors do mixed precision through the training step's ``amp`` option (one loss scaler for
    every optimizer of the step), which per-optimizer scalers would contradict."""
    for name, wrapper in optim_wrapper.items():
        if hasattr(wrapper, "loss_scaler"):
            raise ValueError(
                f"optim_wrapper.{name}: {type(wrapper).__name__} is not supported by {editor}; use "
                "type='OptimWrapper' and set mixed precision in the model: training=dict(amp='bf16') "
                "(or 'fp16', scaled by the training step's own GradScaler)"
            )


class DegplugEditor(BaseModel):
    """Base class; subclasses implement ``_data_samples`` and ``_tensor_output``."""

    _local_iteration = 0

    def _iteration(self) -> int:
        from mmengine.logging import MessageHub

        hub = MessageHub.get_current_instance()
        iteration = hub.get_info("iter") if hub is not None else None
        if iteration is None:
            self._local_iteration += 1
            return self._local_iteration
        return int(iteration) + 1

    def _data_samples(self, data: dict) -> list:
        raise NotImplementedError

    def _tensor_output(self, inputs):
        raise NotImplementedError

    def val_step(self, data: dict) -> list:
        return self._data_samples(data)

    def test_step(self, data: dict) -> list:
        return self._data_samples(data)

    def forward(self, inputs, data_samples=None, mode: str = "tensor"):
        """``mode='tensor'``: ``_tensor_output(inputs)`` (N×3×H×W in [0, 1]); ``'predict'``: DataSamples."""
        if mode == "tensor":
            return self._tensor_output(inputs)
        if mode == "predict":
            return self._data_samples({"inputs": inputs, "data_samples": data_samples})
        raise ValueError(
            f"{type(self).__name__}.forward: mode must be 'tensor' or 'predict' (training goes through train_step), got {mode!r}"
        )
