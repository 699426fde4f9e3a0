"""The sizes and switches of a UniversalDegradationModel, as one JSON-able bundle."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

ARCHITECTURES = ("degplug", "official")

@dataclass
class UDMConfig:
    """Defaults reproduce the paper's model (docs/specification.md §1); ``UDMConfig.small()`` is for CPU demos and tests.

    Switches used by the ablations: ``use_ida=False`` (SFT only), ``map_channels=0`` (no IDEN,
    global embedding only), ``depthwise_ida`` (depthwise vs dense IDA convolutions).
    """

    embed_dim: int = 256
    map_channels: int = 4
    encoder_width: int = 64
    long_kernel: int = 13
    synthesis_width: int = 64
    synthesis_blocks: tuple[int, ...] = (4, 3, 2, 3, 4)
    cond_channels: int = 8
    use_ida: bool = True
    depthwise_ida: bool = False
    rate_hidden: int = 64
    map_rate_compress: bool = False
    # "degplug" (this project's UDM) or "official": the layout of the UDM authors' released models
    # (degplug.udm.official_layers; their checkpoints convert with `degplug convert udm-official`).
    architecture: str = "degplug"
    iden_long_kernel: int = 0  # IDEN's long-range kernel; 0: the same as long_kernel
    map_code_channels: int = 64  # code width of the e_l compressor (map_rate_compress)
    rate_head_blocks: int = 2  # official only: residual blocks of the e_g rate model's head
    rate_tail_blocks: int = 2  # official only: ... and of its tail
    # e_g is standardised per dimension and scaled to this many quantisation bins before its rate
    # model (degplug.entropy.global_rate.DEFAULT_INPUT_SCALE); 0: unscaled (checkpoints saved
    # before the option existed load with 0)
    global_input_scale: float = 2.0
    # e_l in [0, 1] is multiplied by this before quantisation (degplug.entropy.map_rate.DEFAULT_MAP_SCALE)
    map_scale: float = 16.0
    # > 0: HDEN and IDEN also read the image's high-pass band times this gain
    # (degplug.udm.encoder_input.HighPassInput); 0: the image only (the paper)
    encoder_highpass_gain: float = 0.0

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"UDM option 'architecture' must be one of {list(ARCHITECTURES)}, got {self.architecture!r}")
        for item in fields(self):  # options files and checkpoints are user input: name the option
            value = getattr(self, item.name)
            if item.type == "bool" and not isinstance(value, bool):
                raise ValueError(f"UDM option {item.name!r} must be true or false, got {value!r}")
            if item.type == "int" and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"UDM option {item.name!r} must be an integer, got {value!r}")
        if not isinstance(self.synthesis_blocks, (list, tuple)) or not all(
            isinstance(b, int) and not isinstance(b, bool) and b >= 0 for b in self.synthesis_blocks
        ):
            raise ValueError(f"UDM option 'synthesis_blocks' must be a list of 5 non-negative integers, got {self.synthesis_blocks!r}")
        self.synthesis_blocks = tuple(int(b) for b in self.synthesis_blocks)
        if self.architecture == "official" and self.encoder_highpass_gain != 0:
            raise ValueError("UDM option 'encoder_highpass_gain' is a degplug encoder option; the official architecture reads the image only (set it to 0)")
        if len(self.synthesis_blocks) != 5:
            raise ValueError(f"synthesis_blocks needs 5 stage depths, got {self.synthesis_blocks}")
        if self.map_channels < 0 or self.embed_dim <= 0:
            raise ValueError("embed_dim must be positive and map_channels non-negative")
        for name, low in (("global_input_scale", 0.0), ("map_scale", None), ("encoder_highpass_gain", 0.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0 or (low is not None and value == low)):
                raise ValueError(f"UDM option {name!r} must be a {'non-negative' if low is not None else 'positive'} number, got {value!r}")
            setattr(self, name, float(value))

    @classmethod
    def small(cls, **overrides) -> "UDMConfig":
        """A narrow, shallow variant that trains on a CPU in minutes."""
        values = dict(
            embed_dim=64, map_channels=4, encoder_width=16, long_kernel=7, synthesis_width=16,
            synthesis_blocks=(1, 1, 1, 1, 1), rate_hidden=32,
        )
        values.update(overrides)
        return cls(**values)

    def to_dict(self) -> dict:
        values = asdict(self)
        values["synthesis_blocks"] = list(self.synthesis_blocks)
        return values

    @classmethod
    def defaults_filled(cls, values: dict) -> dict:
        """``values`` plus the default of every option it lacks: a config saved before an option
        existed (in a checkpoint or a latent pool) compares equal to the same model's config today."""
        return {**cls().to_dict(), **dict(values)}

    @classmethod
    def from_dict(cls, values: dict) -> "UDMConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown UDM option(s) {unknown}; known options: {sorted(known)}")
        return cls(**values)
