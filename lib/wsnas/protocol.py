"""The super-net protocol three ways: as the paper states it, as the authors' released code runs it, and as
each of our profiles sets it, side by side (the Training chapter's table).

The first two columns describe sources, so they are text with their citation; the profile columns are
computed from `lib/wsnas/profiles/*.toml`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from .data import training_precision, validation_precision
from .nb101 import TRAINING_IMAGES, VALIDATION_IMAGES
from .profiles import load_profile

PAPER = "Pourchot et al. (2020), supplementary 0.1 and Sec. 3"
AUTHORS_CODE = "github.com/apourchot/to_share_or_not_to_share: main.py, training.py, utils.py, configs/nasbench_101.yaml"
PROFILE_COLUMNS = ("paper", "paper-as-written", "demo", "cpu-study")
OPTIMIZER_NAMES = {"authors_rmsprop": "the authors' RMSprop", "tf_rmsprop": "TF-style RMSProp (NB-101)"}
SCHEDULE_NAMES = {"cosine_per_epoch": "cosine, stepped per epoch", "cosine_per_step": "cosine, stepped per batch"}
BN_STATISTICS_NAMES = {"last": "last of the batches", "mean": "mean over the batches"}


def _images(count: int, total: int) -> str:
    return f"{count or total:,}"


# setting: (the paper's text, the authors' code, how a profile's value reads)
ROWS: dict[str, tuple[str, str, Callable[[dict[str, Any]], str]]] = {
    "optimiser": ("RMSProp", "their TFRMSprop: torch RMSprop, ε added into the square average at every step",
                  lambda p: OPTIMIZER_NAMES[p["optimizer"]]),
    "learning rate": ("0.2", "0.2", lambda p: f"{p['learning_rate']:g}"),
    "square-average decay": ("not stated (TF default 0.9)", "0.99 (torch default)",
                             lambda p: "0.99" if p["optimizer"] == "authors_rmsprop" else f"{p['rms_decay']:g}"),
    "ε": ("1", "1", lambda p: f"{p['rms_eps']:g}"),
    "momentum": ("0.9", "0.9", lambda p: f"{p['momentum']:g}"),
    "weight decay": ("10⁻⁴", "10⁻⁴", lambda p: f"{p['weight_decay']:g}"),
    "learning-rate schedule": ("cosine to 0", "torch's cosine annealing over the 432 epochs, stepped after each epoch",
                               lambda p: SCHEDULE_NAMES[p["lr_schedule"]]),
    "epochs": ("432", "432", lambda p: f"{p['epochs']:,}"),
    "batch size": ("256", "256", lambda p: f"{p['batch_size']:,}"),
    "stem channels": ("16", "16", lambda p: f"{p['stem_channels']}"),
    "cells per stack × stacks": ("3 × 3 (NB-101)", "3 × 3", lambda p: f"{p['cells_per_stack']} × {p['num_stacks']}"),
    "training images": ("40,000 (NB-101 split)", "40,000 (first 4/5 of torchvision's training set)",
                        lambda p: _images(p["train_subset"], TRAINING_IMAGES)),
    "CIFAR-10 copy": ("lossless", "lossless (torchvision download)",
                      lambda p: "JPEG q75 (embedded)" if p["data_source"] == "embedded" else
                      "lossless" if p["data_source"] == "lossless" else "lossless if present, else JPEG q75"),
    "BN momentum (PyTorch convention)": (
        "0.997 (TensorFlow's decay, i.e. PyTorch 0.003)",
        "0.997 by default in main.py at a7237c3 (2020-02-10: running statistics = the last batch or two); 0.003 from "
        "1a746cb (2020-02-15, \"was not correct\"), and in every settings file of the released runs",
        lambda p: f"{p['bn_momentum']:g}" + (f", and a second set at {p['second_bn_momentum']:g}" if p["second_bn_momentum"] else "")),
    "BNS-FT statistics": ("averaged over 4 mini-batches", "last of 4 mini-batches (the average is computed, then unused)",
                          lambda p: f"{BN_STATISTICS_NAMES[p['bn_statistics']]} ({p['num_bn_batches']} of {p['bn_batch_size']})"),
    "evaluated cells": ("1,000 per super-net", "1,000 per super-net",
                        lambda p: f"{p['num_eval_cells']:,} " + ("per super-net" if p["eval_sample"] == "per_supernet"
                                                                  else "shared by all runs")),
    "validation images": ("10,000", "10,000", lambda p: _images(p["valid_subset"], VALIDATION_IMAGES)),
    "memory format, precision": ("—", "contiguous, fp32", lambda p: f"{p['memory_format'].replace('_', '-')}; "
                                                                    f"{_precision(p['precision'], p['eval_precision'])}"),
}


def _precision(training: str, evaluation: str) -> str:
    """A profile's training and evaluation precision; `auto` with what it means on the CPU building the table."""
    if training == evaluation != "auto":
        return training
    described = [f"{stage} {setting}" + (f" ({resolve(setting, 'cpu')} on this CPU)" if setting == "auto" else "")
                 for stage, setting, resolve in (("training", training, training_precision),
                                                 ("evaluation", evaluation, validation_precision))]
    return ", ".join(described)


def protocol_table(profiles: tuple[str, ...] = PROFILE_COLUMNS) -> pd.DataFrame:
    """One row per setting; columns: the paper's text, the authors' code, then each profile's value."""
    loaded = {name: load_profile(name) for name in profiles}
    rows = {setting: {"paper's text": text, "authors' code": code, **{name: reader(loaded[name]) for name in profiles}}
            for setting, (text, code, reader) in ROWS.items()}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("setting")
