"""Profiles (smoke, demo, cpu-study, paper, paper-as-written): the scale of every stage, as data in `profiles/<name>.toml`.

A profile is a description and five sections, kept as sections: [data], [supernet], [train] and
[evaluate] set a run; [analysis] sets the chapters' own scale (resamples, chance draws).
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import tomllib

from .nb101 import TRAINING_IMAGES

PRECISION_SETTINGS = ("fp32", "bf16", "auto")  # `precision`, `eval_precision`; auto is resolved per device (wsnas.data)
PROFILE_DIR = Path(__file__).with_name("profiles")

# Every setting a profile holds, by section: its type and, where the set is closed, its allowed values.
SECTIONS: dict[str, dict[str, tuple[type, tuple | None]]] = {
    "data": {
        "data_source": (str, ("auto", "lossless", "embedded")),
        "data_root": (str, None),
        "train_subset": (int, None),
        "allow_lossy": (bool, None),
    },
    "supernet": {
        "stem_channels": (int, None),
        "num_stacks": (int, None),
        "cells_per_stack": (int, None),
        "bn_momentum": (float, None),  # PyTorch convention: running = (1 - m)·running + m·batch
        "second_bn_momentum": (float, None),  # a second set of running statistics (NO-FT read twice); 0: none
        "bn_eps": (float, None),
    },
    "train": {
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
        "precision": (str, PRECISION_SETTINGS),
        "keep_checkpoints": (list, None),
        "divergence_patience": (int, None),
    },
    "evaluate": {
        "num_eval_cells": (int, None),
        "bn_batch_size": (int, None),
        "num_bn_batches": (int, None),
        "bn_statistics": (str, ("mean", "last")),
        "eval_batch_size": (int, None),
        "valid_subset": (int, None),
        "eval_seed": (int, None),
        "eval_sample": (str, ("per_supernet", "shared")),
        "eval_precision": (str, PRECISION_SETTINGS),  # the validation passes; auto: wsnas.data.validation_precision
    },
    # the chapters' own scale (resamples, chance draws); no run depends on them
    "analysis": {
        "cell_bootstrap_resamples": (int, None),  # Ranking: bootstrap over cells of Kendall τ and precision@K
        "bootstrap_resamples": (int, None),  # Variants: bootstrap over super-nets of each variant's gain
        "permutation_seeds": (int, None),  # Search: fresh random-search permutations, the chance level
        "baseline_live_cells": (int, None),  # Baselines: A4 cells of the committed proxies scored again live
        "baseline_cell_resamples": (int, None),  # Baselines: bootstrap over cells of Spearman and precision@K
        "baseline_kendall_resamples": (int, None),  # Baselines: the same bootstrap for Kendall τ (slower)
    },
}
# What a setting's number means where more than one convention is in use (shown by `wsnas profile show`).
CONVENTIONS: dict[str, str] = {
    "bn_momentum": "PyTorch's: running = (1 - m)·running + m·batch; TensorFlow's decay is 1 - m "
                   "(the paper's 0.997 is TensorFlow's; main.py at a7237c3 passes 0.997 to PyTorch by default, while every "
                   "settings file of the released runs records 0.003)",
    "second_bn_momentum": "as bn_momentum, for a second set of running statistics updated from the same batches; 0: none",
}
SETTINGS: dict[str, tuple[type, tuple | None]] = {key: kind for section in SECTIONS.values() for key, kind in section.items()}
POSITIVE = {"stem_channels", "num_stacks", "cells_per_stack", "epochs", "batch_size", "num_eval_cells", "num_bn_batches", "bn_batch_size", "eval_batch_size"}
NON_NEGATIVE = {"train_subset", "divergence_patience", "valid_subset", "learning_rate", "weight_decay", "rms_eps", "eval_seed",
                "cell_bootstrap_resamples", "bootstrap_resamples", "permutation_seeds", "baseline_live_cells",
                "baseline_cell_resamples", "baseline_kendall_resamples"}


class ProfileError(ValueError):
    """An unknown profile, an unknown setting or a value of the wrong type or range."""


def profile_names() -> list[str]:
    return sorted(path.stem for path in PROFILE_DIR.glob("*.toml"))


@cache
def _document(name: str) -> dict[str, Any]:
    """The TOML of profile `name`, read once per process, its sections checked against `SECTIONS`."""
    path = PROFILE_DIR / f"{name}.toml"
    if not path.is_file():
        raise ProfileError(f"unknown profile {name!r}; choose one of {profile_names()}")
    with open(path, "rb") as handle:
        document = tomllib.load(handle)
    unknown = set(document) - {"description", *SECTIONS}
    if unknown:
        raise ProfileError(f"{path}: unknown sections {sorted(unknown)}; a profile has `description` and {list(SECTIONS)}")
    for section, kinds in SECTIONS.items():
        held = document.get(section, {})
        if not isinstance(held, dict):
            raise ProfileError(f"{path}: `{section}` must be a [{section}] section")
        if set(held) != set(kinds):
            raise ProfileError(f"{path}: [{section}] must hold exactly {sorted(kinds)}; "
                               f"missing {sorted(set(kinds) - set(held))}, unknown {sorted(set(held) - set(kinds))}")
    return document


def profile_sections(name: str = "demo", **overrides: Any) -> dict[str, Any]:
    """Profile `name` as it is written: {"description": ..., section: {setting: value}}, with `overrides`
    applied in their sections and every value checked."""
    document = _document(name)
    for key in overrides:
        if key not in SETTINGS:
            raise ProfileError(f"unknown profile setting {key!r}; known settings: {sorted(SETTINGS)}")
    sections: dict[str, Any] = {"description": document.get("description", "")}
    for section, kinds in SECTIONS.items():
        values = {**copy.deepcopy(document[section]), **{key: value for key, value in overrides.items() if key in kinds}}
        sections[section] = {key: check_setting(key, value) for key, value in values.items()}
    return sections


def load_profile(name: str = "demo", **overrides: Any) -> dict[str, Any]:
    """The settings of profile `name` as one flat dict (with `profile` and `description`), `overrides` applied and checked."""
    sections = profile_sections(name, **overrides)
    settings: dict[str, Any] = {"profile": name, "description": sections["description"]}
    for section in SECTIONS:
        settings.update(sections[section])
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
    if key in ("momentum", "rms_decay", "bn_momentum", "second_bn_momentum") and not 0.0 <= value < 1.0:
        raise ProfileError(f"setting {key!r} must lie in [0, 1), got {value!r}")
    return value


def images_per_epoch(profile: str) -> int:
    """Training images per epoch of `profile`: its subset, or all of NB-101's training split."""
    return load_profile(profile)["train_subset"] or TRAINING_IMAGES


def images_seen(profile: str) -> int:
    """Training images a run of `profile` sees: epochs × images per epoch."""
    return load_profile(profile)["epochs"] * images_per_epoch(profile)
