"""Build data/released_settings.parquet: the settings the authors' released runs recorded.

Each run folder of the released archive (`results_paper.tar.xz`, github.com/apourchot/to_share_or_not_to_share @
538a5063, `results_paper/`) holds the settings of its training (`params_dict.pkl`) and of its evaluation
(`params_dict_eval.pkl`), pickled with torch objects inside. We read them without importing or calling anything
(`wsnas.safe_pickle.load_with_placeholders`) and keep one row per file with its scalar settings: among them the
BN momentum each run trained and was evaluated with, which the released code's `main.py` default does not show.

Usage: python scripts/build_released_settings.py [ARCHIVE] [--out data/released_settings.parquet]
"""

from __future__ import annotations

import argparse
import re
import sys
import tarfile
from pathlib import Path

import pandas as pd

from wsnas.datafiles import atomic_path
from wsnas.safe_pickle import load_with_placeholders

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ARCHIVE = REPO_ROOT / ".." / "shared" / "reference" / "results_paper.tar.xz"
DEFAULT_OUTPUT = REPO_ROOT / "data" / "released_settings.parquet"
MEMBER = re.compile(r"results_paper/(?P<run_dir>[^/]+)/(?P<space_dir>[^/]+)/(?P<seed>\d+)/params_dict(?P<eval>_eval)?\.pkl$")
FILES_EXPECTED = 420  # 210 runs, a training and an evaluation settings file each
LAYER_KEYS = ("bn_momentum", "bn_eps", "affine_bn", "conv_bias")
OPTIMIZER_KEYS = ("lr", "momentum", "eps", "weight_decay")
SCALAR_KEYS = ("batch_size", "num_epochs", "n_stacks", "n_cells", "c_init", "ft_bn_stats", "n_ft_bn_stats",
               "n_monte", "prorata", "single_path", "single_k", "fairness", "cutout", "train_seed", "eval_seed",
               "exp_dir", "output_dir")


def settings_row(settings: dict) -> dict:
    """The scalar settings of one settings file, flat: layer and optimiser settings prefixed, classes by name."""
    row = {key: settings.get(key) for key in SCALAR_KEYS}
    row |= {key: settings["layers_params"].get(key) for key in LAYER_KEYS}
    row |= {f"optimizer_{key}": settings["optimizer_params"].get(key) for key in OPTIMIZER_KEYS}
    row |= {name: getattr(settings.get(name), "qualified_name", None) or repr(settings.get(name))
            for name in ("optimizer", "scheduler", "criterion")}
    return row


def read_archive(archive: Path) -> pd.DataFrame:
    if not archive.exists():
        raise FileNotFoundError(
            f"{archive} not found: pass the path of results_paper.tar.xz (see ../shared/PROVENANCE.md) as ARCHIVE")
    rows = []
    with tarfile.open(archive, "r:xz") as tar:
        for member in tar:
            match = MEMBER.match(member.name)
            if match:
                rows.append({"run_dir": match["run_dir"], "space_dir": match["space_dir"], "seed": int(match["seed"]),
                             "file": "evaluation" if match["eval"] else "training",
                             **settings_row(load_with_placeholders(tar.extractfile(member)))})
    if len(rows) != FILES_EXPECTED:
        raise ValueError(f"{archive} holds {len(rows)} settings files, expected {FILES_EXPECTED}: is this the paper's archive?")
    table = pd.DataFrame(rows).sort_values(["run_dir", "space_dir", "seed", "file"], ignore_index=True)
    for column in ("train_seed", "eval_seed", "single_k"):  # None where a file does not set it
        table[column] = table[column].astype("Int64")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive", nargs="?", type=Path, default=DEFAULT_ARCHIVE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    table = read_archive(args.archive)
    with atomic_path(args.out) as temporary:
        table.to_parquet(temporary, index=False)
    momenta = table["bn_momentum"].value_counts().to_dict()
    print(f"wrote {args.out}: {len(table)} settings files; BN momentum recorded: {momenta}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
