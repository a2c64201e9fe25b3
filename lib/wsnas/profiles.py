"""Profiles (smoke, demo, cpu-study, paper, paper-as-written): the scale of every stage, as data in `profiles/<name>.toml`."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

PROFILE_DIR = Path(__file__).with_name("profiles")

# Every setting a profile holds: its type and, where the set is closed, its allowed values.
SETTINGS: dict[str, tuple[type, tuple | None]] = {
    "data_source": (str, ("auto", "lossless", "embedded")),
    "data_root": (str, None),
    "train_subset": (int, None),
    "allow_lossy": (bool, None),
    "stem_channels": (int, None),
    "num_stacks": (int, None),
    "cells_per_stack": (int, None),
    "bn_momentum": (float, None),
    "bn_eps": (float, None),
    "epochs": (int, None),
    "batch_size": (int, None),
    "learning_rate": (float, None),
    "momentum": (float, None),
    "rms_decay": (float, None),
    "rms_eps": (float, None),
    "weight_decay": (float, None),
    "optimizer": (str, ("tf_rmsprop", "authors_rmsprop")),
    "lr_schedule": (str, ("cosine_per_step", "cosine_per_epoch")),
    "memory_format": (str, ("contiguous", "channels_last")),
    "precision": (str, ("fp32", "bf16")),
    "divergence_patience": (int, None),
    "num_eval_cells": (int, None),
    "num_bn_batches": (int, None),
    "bn_batch_size": (int, None),
    "eval_batch_size": (int, None),
    "bn_statistics": (str, ("mean", "last")),
    "valid_subset": (int, None),
    "eval_seed": (int, None),
    "eval_sample": (str, ("per_supernet", "shared")),
    "keep_checkpoints": (list, None),
}
POSITIVE = {"stem_channels", "num_stacks", "cells_per_stack", "epochs", "batch_size", "num_eval_cells", "num_bn_batches", "bn_batch_size", "eval_batch_size"}
NON_NEGATIVE = {"train_subset", "divergence_patience", "valid_subset", "learning_rate", "weight_decay", "rms_eps", "eval_seed"}


class ProfileError(ValueError):
    """An unknown profile, an unknown setting or a value of the wrong type or range."""


def profile_names() -> list[str]:
    return sorted(path.stem for path in PROFILE_DIR.glob("*.toml"))


def load_profile(name: str = "demo", **overrides: Any) -> dict[str, Any]:
    """The settings of profile `name` as one flat dict, with `overrides` applied and checked."""
    path = PROFILE_DIR / f"{name}.toml"
    if not path.is_file():
        raise ProfileError(f"unknown profile {name!r}; choose one of {profile_names()}")
    with open(path, "rb") as handle:
        document = tomllib.load(handle)
    settings: dict[str, Any] = {"profile": name, "description": document.pop("description", "")}
    for section in document.values():
        if not isinstance(section, dict):
            raise ProfileError(f"{path}: top-level keys other than `description` must be [sections]")
        settings.update(section)
    missing = set(SETTINGS) - set(settings)
    if missing:
        raise ProfileError(f"{path} lacks the settings {sorted(missing)}")
    settings.update(overrides)
    for key, value in settings.items():
        if key not in ("profile", "description"):
            settings[key] = check_setting(key, value)
    return settings


def check_setting(key: str, value: Any) -> Any:
    """`value` converted to the type of setting `key`, or a ProfileError saying what is wrong."""
    if key not in SETTINGS:
        raise ProfileError(f"unknown profile setting {key!r}; known settings: {sorted(SETTINGS)}")
    kind, allowed = SETTINGS[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProfileError(f"setting {key!r} must be {kind.__name__}, got {value!r} ({type(value).__name__})")
    if allowed is not None and value not in allowed:
        raise ProfileError(f"setting {key!r} must be one of {allowed}, got {value!r}")
    if key in POSITIVE and value <= 0 or key in NON_NEGATIVE and value < 0:
        raise ProfileError(f"setting {key!r} must be {'positive' if key in POSITIVE else 'non-negative'}, got {value!r}")
    if key == "keep_checkpoints" and not all(isinstance(epoch, int) and epoch > 0 for epoch in value):
        raise ProfileError(f"setting 'keep_checkpoints' must be a list of positive epochs, got {value!r}")
    if key in ("momentum", "rms_decay", "bn_momentum") and not 0.0 <= value < 1.0:
        raise ProfileError(f"setting {key!r} must lie in [0, 1), got {value!r}")
    return value
