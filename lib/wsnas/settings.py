"""A run's settings, built once from a profile, a space, a variant, a seed and overrides (`run_settings`): what
trains its super-net (`TrainConfig`) and what evaluates it (the profile's [evaluate] section), in one object.

Torch-free: the chapters, the sweep and the CLI read settings without loading torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .profiles import SECTIONS, SETTINGS, ProfileError, load_profile, profile_sections
from .space import SPACES, UnknownSpaceError

VARIANTS: dict[str, dict[str, Any]] = {
    "baseline": {"sampler": "uniform", "avg_k": 1, "single_kernel": False},
    "single_k": {"sampler": "uniform", "avg_k": 1, "single_kernel": True},
    "pro_rata": {"sampler": "pro_rata", "avg_k": 1, "single_kernel": False},
    "avg3": {"sampler": "uniform", "avg_k": 3, "single_kernel": False},
    "single_k+pro_rata": {"sampler": "pro_rata", "avg_k": 1, "single_kernel": True},
}



@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a super-net training (the device aside)."""

    # the run's identity
    space: str
    variant: str
    seed: int
    profile: str
    # the variant's settings (VARIANTS)
    sampler: str  # uniform | pro_rata
    avg_k: int
    single_kernel: bool
    # the profile's settings (wsnas.profiles.SETTINGS)
    epochs: int
    batch_size: int
    learning_rate: float
    momentum: float
    rms_decay: float
    rms_eps: float
    weight_decay: float
    optimizer: str  # tf_rmsprop | authors_rmsprop
    lr_schedule: str  # cosine_per_step (NB-101) | cosine_per_epoch (the authors' code)
    memory_format: str  # contiguous | channels_last
    precision: str  # training: fp32 | bf16 (autocast) | auto (data.training_precision)
    divergence_patience: int  # epochs at chance accuracy that stop the run; 0: never
    stem_channels: int
    num_stacks: int
    cells_per_stack: int
    bn_momentum: float
    second_bn_momentum: float  # 0: no second set of running statistics
    bn_eps: float
    data_source: str
    data_root: str
    train_subset: int  # 0: the whole training split
    allow_lossy: bool
    # not from a profile
    chance_margin: float = 0.01  # "at chance" = epoch training accuracy below CHANCE_ACCURACY + this
    device: str = "cpu"
    keep_checkpoints: tuple[int, ...] = ()  # epochs whose checkpoint is kept as checkpoint_epoch<k>.pt

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise UnknownSpaceError(self.space)
        if self.sampler not in ("uniform", "pro_rata"):
            raise ValueError(f"sampler must be 'uniform' or 'pro_rata', got {self.sampler!r}")
        if self.avg_k < 1:
            raise ValueError(f"avg_k must be at least 1, got {self.avg_k!r}")
        if self.optimizer not in ("tf_rmsprop", "authors_rmsprop"):
            raise ValueError(f"optimizer must be 'tf_rmsprop' or 'authors_rmsprop', got {self.optimizer!r}")
        object.__setattr__(self, "keep_checkpoints", tuple(int(epoch) for epoch in self.keep_checkpoints))

    def params(self) -> dict[str, Any]:
        """The parameters that identify the run (everything but the device and the kept checkpoints)."""
        values = asdict(self)
        values.pop("device")
        values.pop("keep_checkpoints")
        if not values["second_bn_momentum"]:  # runs from before the setting existed keep their identity
            values.pop("second_bn_momentum")
        return values



def config_for(profile: str = "demo", space: str = "A4", variant: str = "baseline", seed: int = 0, *,
               device: str = "cpu", **overrides: Any) -> TrainConfig:
    """The TrainConfig of the run (profile, space, variant, seed) on `device`, with `overrides` applied.

    `overrides` are profile settings (checked as the profile's own) or TrainConfig fields; the
    variant sets sampler, avg_k and single_kernel unless those are overridden too.
    """
    if variant not in VARIANTS:
        raise ProfileError(f"unknown variant {variant!r}; choose one of {sorted(VARIANTS)}")
    config_fields = {field.name for field in fields(TrainConfig)}
    unknown = set(overrides) - config_fields - set(SETTINGS)
    if unknown:
        raise ProfileError(f"unknown settings {sorted(unknown)}; known: {sorted(config_fields | set(SETTINGS))}")
    settings = load_profile(profile, **{key: value for key, value in overrides.items() if key in SETTINGS})
    values = {key: value for key, value in settings.items() if key in config_fields}
    values.update(VARIANTS[variant])
    # evaluation settings (num_eval_cells, ...) are profile settings but not training fields
    values.update({key: value for key, value in overrides.items() if key in config_fields})
    values.update(space=space, variant=variant, seed=seed, profile=profile, device=device)
    return TrainConfig(**values)



EVALUATION_SETTINGS: tuple[str, ...] = tuple(SECTIONS["evaluate"])  # the profile's [evaluate] section


def evaluation_settings(profile: str = "demo", **overrides: Any) -> dict[str, Any]:
    """The [evaluate] section of `profile` (overrides that are not evaluation settings are ignored)."""
    return profile_sections(profile, **{key: value for key, value in overrides.items() if key in EVALUATION_SETTINGS})["evaluate"]


@dataclass(frozen=True)
class RunSettings:
    """One run's settings: `train` trains the super-net, `evaluate` (the [evaluate] section) evaluates it;
    `overrides` are what was set on top of the profile (they name the run directory)."""

    train: TrainConfig
    evaluate: dict[str, Any]
    overrides: dict[str, Any] = field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        """Everything that identifies the run (its directory's `params.json`).

        `eval_precision` "auto" is left out: runs from before the setting existed keep their identity, and each
        evaluation records the precision it ran in."""
        evaluate = dict(self.evaluate)
        if evaluate.get("eval_precision") == "auto":
            evaluate.pop("eval_precision")
        return {**self.train.params(), **evaluate}


def run_settings(profile: str = "demo", space: str = "A4", variant: str = "baseline", seed: int = 0, *,
                 device: str = "cpu", **overrides: Any) -> RunSettings:
    """The settings of the run (profile, space, variant, seed) on `device`, with `overrides` applied to both
    sections (each takes the settings it knows; `config_for` refuses unknown ones)."""
    return RunSettings(config_for(profile, space=space, variant=variant, seed=seed, device=device, **overrides),
                       evaluation_settings(profile, **overrides), dict(overrides))
