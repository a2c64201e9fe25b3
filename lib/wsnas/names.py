"""What the reader sees: names of spaces, variants, modes, metrics and readings; colours; number formats.

Every table and figure of the book takes its labels, colours and number formats from here, so a
space has one colour and one name on every page, and a number is written the same way
everywhere. The paper's order of the spaces is `wsnas.space.PAPER_ORDER`, re-exported here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping

import pandas as pd

from wsnas.reference import VARIANT_COLUMNS
from wsnas.space import PAPER_ORDER, SPACE_RULES

SPACE_NAMES: dict[str, str] = {space: space for space in PAPER_ORDER}  # the project's names are the reader's



def space_definition(space: str) -> str:
    """What sets a space apart, in words, from its rule (`wsnas.space.SPACE_RULES`)."""
    rule = SPACE_RULES[space]
    parts = []
    if rule["output_in_degree"] is not None:
        k = rule["output_in_degree"]
        parts.append(f"exactly {k} operation {'vertex feeds' if k == 1 else 'vertices feed'} the output")
    if rule["input_output_edge"] is not None:
        parts.append("the input feeds the output directly" if rule["input_output_edge"]
                     else "no direct input→output edge")
    return "; ".join(parts) or "every NAS-Bench-101 cell"


SPACE_DEFINITIONS = {space: space_definition(space) for space in PAPER_ORDER}

VARIANT_NAMES = {
    "baseline": "BASELINE",
    "single_k": "SINGLE-K",
    "pro_rata": "PRO-RATA",
    "avg3": "AVG-3",
    "single_k+pro_rata": "S-K + P-R",
}
MODE_NAMES = {"no_ft": "NO-FT", "bns_ft": "BNS-FT"}


def column_name(column: str) -> str:
    """Reader name of an evaluation column "variant/mode": NO-FT and BNS-FT for the baseline, else the variant."""
    if "/" not in column:
        raise ValueError(f"{column!r} is not an evaluation column: write it as 'variant/mode', e.g. 'baseline/bns_ft'")
    variant, mode = column.split("/", 1)
    if variant not in VARIANT_NAMES or mode not in MODE_NAMES:
        raise ValueError(f"unknown evaluation column {column!r}: variants {list(VARIANT_NAMES)}, modes {list(MODE_NAMES)}")
    if variant == "baseline":
        return MODE_NAMES[mode]
    return VARIANT_NAMES[variant] if mode == "bns_ft" else f"{VARIANT_NAMES[variant]} ({MODE_NAMES[mode]})"


COLUMN_NAMES = {column: column_name(column) for column in VARIANT_COLUMNS}  # the paper's Table 1 columns, in order

METRIC_NAMES = {
    "spearman": "Spearman ρ",
    "kendall": "Kendall τ",
    "precision@10": "precision@10",
    "precision@100": "precision@100",
    "top1": "TOP-1",
    "top10": "TOP-10",
    "top100": "TOP-100",
    "repeat_vs_rest": "one repeat vs mean of the others (ρ)",
    "repeat_vs_repeat": "repeat vs repeat (ρ)",
    "best_proxy_spearman": "best proxy (ρ)",
    "adjusted_r2": "adjusted R²",
    "residual_std": "residual std",
    "p_value": "p",
    "p_holm": "p (Holm)",
}

# The readings of the search protocol (`wsnas.search.READINGS`), in the reader's words.
READING_NAMES = {
    "default": "stored order (default)",
    "ties_position": "ties by sampling position",
    "ties_numpy_quicksort_reversed": "ties as numpy 2020 argsort, reversed",
    "ties_numpy_quicksort_negated": "ties as numpy 2020 argsort of −proxy",
    "random_permutation": "random: one fresh permutation",
    "random_expectation": "random: expectation over permutations",
    "supernet_2x": "super-net = 2 × mean time",
    "supernet_8x": "super-net = 8 × mean time",
    "budget_without_supernet": "random budget without the super-net",
    "running_training_counts": "running training counts",
    "selection_test": "incumbent by test accuracy",
    "repeat_0": "NB-101 repeat 0 only",
    "exclude_diverged": "diverged super-nets dropped",
    "zero_pratt": "zero differences: Pratt",
    "zero_zsplit": "zero differences: split",
    "best_of_runs": "best of the 5 runs as reference",
    "no_ft": "WS guided by NO-FT",
    "single_k": "WS guided by SINGLE-K",
    "pro_rata": "WS guided by PRO-RATA",
    "avg3": "WS guided by AVG-3",
    "single_k+pro_rata": "WS guided by S-K + P-R",
}

# Structural features of a cell (`wsnas.bias.FEATURES`), short enough for a table row.
FEATURE_NAMES = {
    "input_output_edge": "input→output edge",
    "first_vertex_conv3x3": "3×3 conv on vertex 1",
    "first_vertex_conv1x1": "1×1 conv on vertex 1",
    "first_vertex_maxpool3x3": "max-pool on vertex 1",
    "input_only_conv3x3": "3×3 fed by input alone",
    "output_in_degree": "vertices feeding output",
    "depth": "depth (longest path)",
    "num_conv3x3": "number of 3×3 convs",
    "num_conv1x1": "number of 1×1 convs",
    "num_maxpool3x3": "number of max-pools",
    "num_vertices": "number of vertices",
    "num_edges": "number of edges",
    "log2_parameters": "log₂ parameters",
}

# Where a number comes from: the legend used on every page.
PROVENANCE = {
    "paper": "the paper's number (Pourchot et al. 2020), as printed",
    "recomputed": "recomputed here from the authors' released evaluations (their super-nets, our code)",
    "ours": "trained here, by this book's code, with the profile named beside it",
}

# ---------------------------------------------------------------------------------------------
# Colours: one per space, one per evaluation mode, one per variant column (colour-blind safe).

_OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")
SPACE_COLOURS = dict(zip(PAPER_ORDER, ("#0072B2", "#56B4E9", "#009E73", "#E69F00", "#D55E00", "#CC79A7", "#7F3C8D")))
# Modes and variants take Paul Tol's "muted" palette, so that no colour means a space on one page and a variant on
# another (the spaces keep Okabe-Ito's).
MODE_COLOURS = {"no_ft": "#999999", "bns_ft": "#332288"}
COLUMN_COLOURS = {
    "baseline/no_ft": MODE_COLOURS["no_ft"],
    "baseline/bns_ft": MODE_COLOURS["bns_ft"],
    "single_k/bns_ft": "#117733",
    "pro_rata/bns_ft": "#882255",
    "avg3/bns_ft": "#44AA99",
    "single_k+pro_rata/bns_ft": "#CC6677",
}
RANDOM_COLOUR = "#8C8C8C"  # random search

# ---------------------------------------------------------------------------------------------
# Numbers for people

UNDEFINED = "—"


def _undefined(value) -> bool:
    if value is None or value is pd.NA:
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def integer(value) -> str:
    """12345 -> '12,345'; undefined -> '—'."""
    return UNDEFINED if _undefined(value) else f"{round(float(value)):,}"


def decimal(value, places: int = 2, signed: bool = False) -> str:
    """A number to `places` decimals ('−' as the minus sign); undefined -> '—'."""
    if _undefined(value):
        return UNDEFINED
    value = float(value) if round(float(value), places) else 0.0  # no "−0.00": a value that rounds to zero has no sign
    return f"{value:{'+' if signed else ''}.{places}f}".replace("-", "−")


def rho(value, signed: bool = False) -> str:
    """A rank correlation to 2 decimals."""
    return decimal(value, 2, signed)


def p_value(value) -> str:
    """A p-value to 2 significant digits; below 0.0001 written '< 0.0001'."""
    if _undefined(value):
        return UNDEFINED
    value = float(value)
    if value < 1e-4:
        return "< 0.0001"
    if value >= 0.995:
        return "1.0"
    places = max(2, 1 - math.floor(math.log10(value)))  # 2 significant digits, never scientific
    return f"{value:.{places}f}"


def percent(value, places: int = 0, signed: bool = False) -> str:
    """A fraction as a percentage: 0.271 -> '27%'."""
    if _undefined(value):
        return UNDEFINED
    return f"{100 * float(value):{'+' if signed else ''}.{places}f}%".replace("-", "−")


def short_hash(value: str) -> str:
    """The first 8 characters of an NB-101 hash."""
    return UNDEFINED if _undefined(value) else str(value)[:8]


def mean_ci(mean, low, high, places: int = 2, signed: bool = False) -> str:
    """'0.64 [0.61, 0.67]'."""
    if _undefined(mean):
        return UNDEFINED
    return f"{decimal(mean, places, signed)} [{decimal(low, places, signed)}, {decimal(high, places, signed)}]"


def mean_std(mean, std, starred: bool = False, places: int = 2) -> str:
    """'*0.67 ± 0.02' (the paper's format; * = a diverged super-net left out)."""
    if _undefined(mean):
        return UNDEFINED
    return f"{'*' if starred else ''}{decimal(mean, places)} ± {decimal(std, places)}"


def reader(name) -> str:
    """The reader name of any internal name this module knows (column, variant, mode, metric, reading,
    feature, space); other values unchanged."""
    if not isinstance(name, str):
        return name
    for table in (COLUMN_NAMES, METRIC_NAMES, READING_NAMES, FEATURE_NAMES, VARIANT_NAMES, MODE_NAMES):
        if name in table:
            return table[name]
    if "/" in name and name.split("/", 1)[0] in VARIANT_NAMES:
        return column_name(name)
    return name


def readable(frame: pd.DataFrame, formats: Mapping[str, Callable] | None = None, default: Callable | None = None,
             rename: bool = True) -> pd.DataFrame:
    """A copy of `frame` for a page: cells formatted per column (`formats`, else `default`, else as text with
    '—' for undefined), internal names in index, columns and text cells replaced by reader names."""
    formats = dict(formats or {})
    shown = pd.DataFrame(index=frame.index)
    for position, column in enumerate(frame.columns):
        key = column if column in formats else (column[-1] if isinstance(column, tuple) and column[-1] in formats
                                                 else None)
        formatter = formats.get(key, default) if key is not None else default
        values = frame.iloc[:, position]
        if formatter is None:
            formatter = _auto
        shown[position] = [formatter(value) for value in values]
    shown.columns = frame.columns
    if rename:
        shown = shown.rename(index=reader, columns=reader)
        shown.index.names = [reader(name) if name else name for name in shown.index.names]
        shown.columns.names = [reader(name) if name else name for name in shown.columns.names]
    return shown


def _auto(value) -> str:
    if _undefined(value):
        return UNDEFINED
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) or (isinstance(value, float) and float(value).is_integer() and abs(value) >= 100):
        return integer(value)
    if isinstance(value, float):
        return decimal(value, 2)
    if isinstance(value, str):
        return reader(value)
    if isinstance(value, tuple):
        return ", ".join(str(item) for item in value) or UNDEFINED
    return str(value)


# Code words in the library's one-line descriptions, and how a reader reads them.
_PLAIN_WORDS = {"A_k": "Aₖ", "default_rng(run seed)": "a generator seeded with the run's seed",
                "numpy<1.25 ": "numpy before 1.25: "}


def plain(text: str) -> str:
    """A library description with its code words written for a reader."""
    for word, replacement in _PLAIN_WORDS.items():
        text = text.replace(word, replacement)
    return text


INTERNAL_NAME = re.compile(r"\b[a-z0-9]+(?:_[a-z0-9]+)+\b|\b[a-z_]+\+[a-z_]+/[a-z_]+\b|\b[a-z_]+/(?:no_ft|bns_ft)\b")


def internal_names(text: str) -> list[str]:
    """snake_case or 'variant/mode' words in `text`: what a reader should never see in a table."""
    return INTERNAL_NAME.findall(text)
