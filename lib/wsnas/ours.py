"""Our own runs beside the paper's: the finished training runs under the results root, their
correlations in the released runs' vocabulary, and the comparison with the paper and the
recomputed reference (`wsnas.reference`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from wsnas import runs
from wsnas.metrics import mode_correlations
from wsnas.names import VARIANT_NAMES
from wsnas.nb101 import NB101, TRAINING_IMAGES
from wsnas.profiles import load_profile
from wsnas.reference import evaluation_column
from wsnas.results import (
    CORRECTED_MOMENTUM,
    MAIN_PY_MOMENTUM,
    PAPER_SCALE_RUN,
    STUDY_PROFILE,
    STUDY_SPACE,
    comparisons,
    load_readings,
    longest_run,
    planned_cells,
    spearman_beside_counts,
    study_run,
)


def our_runs(root: str | Path | None = None, stage: str | None = None) -> pd.DataFrame:
    """Our own runs found under `root` (`wsnas.runs.catalogue`), of one `stage` or all; empty when there is none."""
    catalogue = runs.catalogue(root)
    if stage is None or catalogue.empty:
        return catalogue
    return catalogue.loc[catalogue["stage"] == stage].reset_index(drop=True)


def our_correlations(results_root: str | Path | None = None) -> pd.DataFrame:
    """Spearman of each of our finished training runs, one row per (run, mode), in the released runs' vocabulary.

    `spearman` is weighted for the non-uniform coverage of the embedded NB-101 table (`metrics.mode_correlations`).
    """
    catalogue = our_runs(results_root, stage="training")
    columns = ["space", "variant", "seed", "profile", "column", "spearman", "cells", "run"]
    rows = []
    for run in catalogue.itertuples() if not catalogue.empty else ():
        evaluations = runs.read_table(Path(run.path), "evaluations")
        if run.state != "done" or evaluations is None:
            continue
        for mode, row in mode_correlations(evaluations).iterrows():
            rows.append({"space": run.space, "variant": run.variant, "seed": int(run.seed), "profile": run.profile,
                         "column": evaluation_column(run.variant, mode), "cells": int(row["cells"]), "run": run.run,
                         "spearman": row["spearman_weighted"]})
    return pd.DataFrame(rows, columns=columns)


def run_scale(profile: str, trained_in: Iterable[str] = ()) -> dict[str, str]:
    """The size of `profile`'s runs and the precision they trained in, as reader text for the chapters' scale line."""
    settings = load_profile(profile)
    return {"epochs": f"{settings['epochs']:,}",
            "images": f"{settings['train_subset'] or TRAINING_IMAGES:,}",
            "stem": f"{settings['stem_channels']}",
            "cells_per_stack": f"{settings['cells_per_stack']}",
            "trained_in": ", ".join(sorted(set(trained_in) - {""})) or settings["precision"],
            "memory_format": settings["memory_format"].replace("_", "-")}


def ours_beside_paper(ours: pd.DataFrame, comparison: pd.DataFrame) -> pd.DataFrame:
    """Our runs' mean Spearman per (space, column, profile) next to the paper's and the recomputed mean.

    `comparison` is `side_by_side(paper_table1(), table1_recomputed())`.
    """
    if ours.empty:
        return pd.DataFrame(columns=["space", "column", "profile", "paper", "recomputed", "ours", "our_runs", "cells"])
    summary = (ours.groupby(["space", "column", "profile"], sort=False)
               .agg(ours=("spearman", "mean"), our_runs=("seed", "nunique"), cells=("cells", "max")).reset_index())
    reference_values = comparison[["paper_mean", "recomputed_mean"]].rename(
        columns={"paper_mean": "paper", "recomputed_mean": "recomputed"})
    joined = summary.join(reference_values, on=["space", "column"])
    return joined[["space", "column", "profile", "paper", "recomputed", "ours", "our_runs", "cells"]]


def study_beside_paper(comparison: pd.DataFrame) -> pd.DataFrame:
    """The CPU study's longest committed run (`data/study/`), per mode, next to the paper's and the recomputed
    mean of its space; `scale` names the profile and the network. Empty when no study run is committed."""
    columns = ["space", "column", "paper", "recomputed", "ours", "low", "high", "cells", "scale"]
    final = longest_run()
    if final.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for mode, row in final.iterrows():
        column = evaluation_column("baseline", mode)
        reference_row = comparison.loc[(STUDY_SPACE, column)]
        rows.append({"space": STUDY_SPACE, "column": column, "paper": reference_row["paper_mean"],
                     "recomputed": reference_row["recomputed_mean"], "ours": row["spearman"],
                     "low": row["spearman_low"], "high": row["spearman_high"], "cells": int(row["n_cells"]),
                     "scale": row["label"]})
    return pd.DataFrame(rows, columns=columns)


def study_variant_beside_paper(comparison: pd.DataFrame) -> pd.DataFrame:
    """SINGLE-K minus the baseline (BNS-FT) in the CPU study at 27 epochs, a paired difference on the same cells,
    next to the paper's and the recomputed difference of means in its space and the gap between two baseline
    seeds at 27 epochs. Empty until the study's SINGLE-K run and its second seed are committed."""
    columns = ["space", "difference", "paper", "recomputed", "ours", "low", "high", "seed_gap", "cells", "scale"]
    bns = comparisons().query("mode == 'bns_ft'").set_index("comparison")
    variant, seeds = f"{VARIANT_NAMES['single_k']} − baseline at 27 epochs", "seed 1 − seed 0 at 27 epochs"
    if variant not in bns.index or seeds not in bns.index:
        return pd.DataFrame(columns=columns)
    means = {column: comparison.loc[(STUDY_SPACE, evaluation_column(column, "bns_ft"))] for column in ("single_k", "baseline")}
    row = bns.loc[variant]
    return pd.DataFrame([{
        "space": STUDY_SPACE, "difference": f"{VARIANT_NAMES['single_k']} − {VARIANT_NAMES['baseline']} (BNS-FT)",
        "paper": means["single_k"]["paper_mean"] - means["baseline"]["paper_mean"],
        "recomputed": means["single_k"]["recomputed_mean"] - means["baseline"]["recomputed_mean"],
        "ours": row["difference"], "low": row["low"], "high": row["high"], "seed_gap": bns.loc[seeds, "difference"],
        "cells": int(row["n_cells"]),
        "scale": f"Trained here: profile {STUDY_PROFILE}, {STUDY_SPACE}, 27 epochs, 3 stacks of 1 cell, JPEG q75 CIFAR-10, "
                 f"seed 0 of each variant, {int(row['n_cells'])} shared cells"}], columns=columns)


def ours_beside_counts(results_root=None) -> pd.DataFrame:
    """Each of our finished training runs, per evaluation mode: its super-net's Spearman and that of the
    parameter count and FLOPs on the very same cells (`wsnas.results.spearman_beside_counts`)."""
    columns = ["space", "column", "profile", "seed", "cells", "ws", "params", "flops", "run"]
    catalogue = our_runs(results_root, stage="training")
    tables = []
    for run in catalogue.itertuples() if not catalogue.empty else ():
        evaluations = runs.read_table(Path(run.path), "evaluations") if run.state == "done" else None
        if evaluations is not None:
            rows = spearman_beside_counts(evaluations)
            tables.append(rows.assign(space=run.space, column=evaluation_column(run.variant, rows["mode"]),
                                      profile=run.profile, seed=int(run.seed), run=run.run))
    return pd.concat(tables, ignore_index=True)[columns] if tables else pd.DataFrame(columns=columns)


# ---------------------------------------------------------------------------------------------
# The paper-scale run's latest reading: what the Bias, Search and Baselines chapters set beside the released super-nets

OUR_BNS_FT = "bns_ft_last"  # BNS-FT from the last of the batches: the authors' code, which the released evaluations ran
OUR_READINGS = (OUR_BNS_FT, f"no_ft@{MAIN_PY_MOMENTUM:g}", f"no_ft@{CORRECTED_MOMENTUM:g}")  # NO-FT under both momenta


@dataclass(frozen=True)
class PaperScaleReading:
    """The latest complete reading of our paper-scale run: the final epoch once all its cells are read (the
    profile's evaluation cells, 1,000), else the latest kept checkpoint with all its CHECKPOINT_CELLS read.

    `cells` holds one row per (reading, cell) of that epoch for OUR_READINGS: reading, hash, position (the cell's
    order in the run's sample), proxy_accuracy and the cell's NB-101 means (validation, test, training time)."""

    run: str
    space: str
    profile: str
    epoch: int
    epochs: int  # the run's budget
    n_cells: int
    cells: pd.DataFrame

    @property
    def final(self) -> bool:
        return self.epoch == self.epochs

    @property
    def label(self) -> str:
        """The short name of a row, a legend entry or a panel: 'ours, epoch 81 of 432 (300 cells)'."""
        when = f"final epoch {self.epoch}" if self.final else f"epoch {self.epoch} of {self.epochs}"
        return f"ours, {when} ({self.n_cells:,} cells)"

    @property
    def scale(self) -> str:
        """One sentence for a caption: which super-net, which epoch, how many cells, which BNS-FT."""
        when = (f"its final epoch, {self.epoch}," if self.final else
                f"its kept checkpoint of epoch {self.epoch} of {self.epochs} (a checkpoint, not the finished run),")
        return (f"Ours: the {self.space} super-net trained here at the paper's protocol (profile {self.profile}, "
                f"3 stacks of 3 cells, JPEG q75 CIFAR-10), read at {when} on {self.n_cells:,} cells drawn as the "
                f"authors drew theirs; BNS-FT from the last of the batches (the authors' code, as in their released "
                f"evaluations)")

    def reading(self, name: str = OUR_BNS_FT) -> pd.DataFrame:
        """The cells of one reading, in the run's order."""
        return self.cells[self.cells["reading"] == name].sort_values("position").reset_index(drop=True)


def complete_epochs(run: str) -> dict[int, int]:
    """The epochs of committed run `run` whose readings are complete, with their cells: the final epoch when each
    of OUR_READINGS holds the profile's evaluation cells, a kept checkpoint when each holds CHECKPOINT_CELLS."""
    spec = study_run(run)
    readings = load_readings(run)
    counts = readings[readings["reading"].isin(OUR_READINGS)].groupby(["epoch", "reading"]).size()
    complete = {}
    for epoch in (spec.epochs, *spec.checkpoints):
        held = [int(counts.get((epoch, name), 0)) for name in OUR_READINGS]
        if min(held) >= planned_cells(run, epoch):
            complete[epoch] = min(held)
    return complete


def latest_paper_scale_reading(run: str = PAPER_SCALE_RUN) -> PaperScaleReading | None:
    """The latest complete reading of run `run` (`complete_epochs`): the final epoch if complete, else the latest
    complete checkpoint; None while no epoch is complete."""
    spec = study_run(run)
    complete = complete_epochs(run)
    if not complete:
        return None
    epoch = spec.epochs if spec.epochs in complete else max(complete)
    readings = load_readings(run)
    chosen = readings[(readings["epoch"] == epoch) & readings["reading"].isin(OUR_READINGS)].copy()
    chosen["position"] = chosen.groupby("reading", sort=False).cumcount()  # committed in the run's sampling order
    truth = NB101.default().metrics(chosen["hash"].unique())[["mean_validation_accuracy", "mean_test_accuracy",
                                                               "mean_training_time"]]
    cells = chosen[["reading", "hash", "position", "proxy_accuracy"]].join(truth, on="hash").reset_index(drop=True)
    return PaperScaleReading(run=run, space=STUDY_SPACE, profile=spec.profile, epoch=int(epoch), epochs=spec.epochs,
                             n_cells=complete[epoch], cells=cells)
