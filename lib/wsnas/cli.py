"""The `wsnas` command: query the search space, NAS-Bench-101 and the paper's reference numbers."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wsnas.profiles import profile_names
from wsnas.settings import VARIANTS
from wsnas.space import SPACES

_NUMBER_LIST = re.compile(r"\[\s*(-?[\d.eE+-]+(?:,\s*-?[\d.eE+-]+)*)\s*\]")


def _print_json(payload: Any) -> None:
    """Indented JSON with lists of numbers (matrix rows, per-repeat metrics) kept on one line."""
    text = json.dumps(payload, indent=2)
    print(_NUMBER_LIST.sub(lambda match: "[" + ", ".join(match.group(1).split()).replace(",,", ",") + "]", text))


def _print_table(rows: dict[str, Any], key_header: str, value_header: str) -> None:
    width = max(len(key_header), *(len(str(key)) for key in rows))
    print(f"{key_header:<{width}}  {value_header}")
    for key, value in rows.items():
        print(f"{key:<{width}}  {value}")


def command_spaces(args: argparse.Namespace) -> int:
    from wsnas import space

    sizes = {name: int(size) for name, size in space.space_sizes().items()}
    if args.json:
        _print_json(sizes)
    else:
        _print_table({name: f"{size:,}" for name, size in sizes.items()}, "space", "cells")
    return 0


def command_cell(args: argparse.Namespace) -> int:
    from wsnas import space

    try:
        description = json.loads(args.json_cell)
    except json.JSONDecodeError as error:
        raise CommandError(f"--json is not valid JSON ({error}); expected "
                           '{"adjacency": [[...]], "ops": ["input", ..., "output"]}') from error
    if not isinstance(description, dict) or not {"adjacency", "ops"} <= description.keys():
        raise CommandError('--json must be an object with keys "adjacency" and "ops"')
    cell = space.Cell.from_dict(description)
    pruned = cell.pruned()
    payload = {
        "hash": cell.hash,
        **pruned.to_dict(),
        "trainable_parameters": int(space.trainable_parameters(pruned)),
        "spaces": pruned.spaces(),
    }
    _print_json(payload)
    return 0


def command_nb101_query(args: argparse.Namespace) -> int:
    from wsnas.nb101 import NB101

    record = NB101.load().query_hash(args.hash)
    if args.json:
        _print_json(record)
    else:
        for key, value in record.items():
            print(f"{key}: {value}")
    return 0


def command_nb101_import(args: argparse.Namespace) -> int:
    from wsnas.nb101 import import_tfrecord

    out = import_tfrecord(Path(args.path), Path(args.out) if args.out else None)
    print(f"imported {args.path} -> {out}; it now takes precedence over the embedded table")
    return 0


def command_reference_table1(args: argparse.Namespace) -> int:
    from wsnas import reference

    table = reference.table1_json()
    if args.json:
        _print_json(table)
    else:
        print(reference.side_by_side(reference.paper_table1(), reference.table1_recomputed()).to_string())
    return 0


def command_reference_table2(args: argparse.Namespace) -> int:
    from wsnas import search

    table = search.table2_json(reading=args.reading)
    if args.json:
        _print_json(table)
    else:
        for space_name, columns in table.items():
            cells = "  ".join(f"{column}: {value['p']:.2f} {value['direction']}" for column, value in columns.items())
            print(f"{space_name:<9} {cells}")
    return 0


def command_reference_claims(args: argparse.Namespace) -> int:
    from wsnas import claims

    checked = claims.check_all()
    if args.json:
        _print_json([claim.as_json() for claim in checked])
    else:
        for claim in checked:
            print(f"{claim.id}: {claim.verdict}; {claim.robustness}\n  {claim.evidence}")
    return 0


def command_train(args: argparse.Namespace) -> int:
    from wsnas import runs
    from wsnas.evaluate import train_and_evaluate
    from wsnas.metrics import mode_correlations

    overrides = dict(_parse_setting(setting) for setting in args.set)
    outcome = train_and_evaluate(args.profile, args.space, args.variant, args.seed, device=args.device,
                                 results_root=args.results, overrides=overrides)
    print(f"{outcome.result.state}: {outcome.run_dir} (profile {args.profile})")
    print(f"data: {(runs.get_status(outcome.run_dir) or {}).get('data', 'unknown')}")  # says "JPEG q75" for the embedded copy
    if outcome.evaluations is not None:
        print(mode_correlations(outcome.evaluations)[["cells", "spearman", "kendall"]].round(3).to_string())
    return 1 if outcome.result.diverged else 0


def command_study(args: argparse.Namespace) -> int:
    from wsnas import results, study

    if args.run:
        import torch

        torch.set_num_threads(args.threads)
        if args.whole_space:
            for name in args.run:
                for written in study.evaluate_whole_space(results.study_run(name), results_root=args.results,
                                                          last_first=args.last_first):
                    print(f"data/{written}")
        elif args.readings is not None:
            for name in args.run:
                for written in study.evaluate_readings(results.study_run(name), args.readings, n_cells=args.cells,
                                                       draws=args.draws, results_root=args.results,
                                                       last_first=args.last_first):
                    print(f"data/{written}")
        elif args.bn_readings:
            for name in args.run:
                study.bn_momentum_readings(results.study_run(name), results_root=args.results)
        elif args.preserve:
            for name in args.run:
                for written in study.save_progress(results.study_run(name), results_root=args.results):
                    print(f"data/{written}")
        elif args.evaluate is None:
            study.run_study(args.run, results_root=args.results, allow_precision_switch=args.allow_precision_switch,
                            train_only=args.train_only)
        else:
            for name in args.run:
                study.evaluate_epoch(results.study_run(name), args.evaluate, results_root=args.results)
    rows = results.study_json()
    if args.json:
        _print_json(rows)
    elif not rows:
        print("no study run is committed under data/study/ yet; run: wsnas study --run A4_baseline_seed0_e3")
    else:
        import pandas as pd

        print(pd.DataFrame(rows).to_string(index=False))
    return 0


def _parse_setting(setting: str) -> tuple[str, Any]:
    """`key=value` with the value read as JSON when it parses (numbers, booleans), else as a string."""
    key, separator, value = setting.partition("=")
    if not separator or not key:
        raise CommandError(f"--set {setting!r}: expected KEY=VALUE, e.g. --set epochs=2")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def command_sweep(args: argparse.Namespace) -> int:
    from wsnas import sweep

    specs = sweep.grid(args.spaces or sweep.SPACES, args.variants or sweep.VARIANTS, args.seeds)
    overrides = dict(_parse_setting(setting) for setting in args.set) or None
    from wsnas.runs import resolve_root

    print(f"{len(specs)} runs of the {args.profile} profile into {resolve_root(args.results)}")
    table = sweep.run_sweep(specs, args.profile, results_root=args.results, device=args.device,
                            overrides=overrides, executor=args.executor, runs_per_device=args.runs_per_device,
                            address=args.address, retries=args.retries)
    print(table.to_string(index=False))
    return 0 if table["state"].isin(sweep.FINISHED).all() else 1


def command_runs(args: argparse.Namespace) -> int:
    from wsnas import runs

    root = runs.resolve_root(args.results)
    catalogue = runs.catalogue(root)
    if catalogue.empty:
        print(f"no run under {root}")
        return 0
    catalogue["epoch"] = [_epoch_progress(row.get("epoch"), row.get("epochs")) for _, row in catalogue.iterrows()]
    columns = [column for column in ("stage", "run", "state", "epoch", "updated") if column in catalogue]
    print(catalogue[columns].to_string(index=False))
    return 0


def _epoch_progress(epoch: Any, epochs: Any) -> str:
    """'3/432' for a training run (epochs completed of the total), '—' where the run has no epoch."""
    import pandas as pd

    if epoch is None or pd.isna(epoch):
        return "—"
    return f"{int(epoch)}/{int(epochs)}" if epochs is not None and not pd.isna(epochs) else str(int(epoch))


def _cells_from_file(path: str) -> list:
    """The cells of a JSON file holding a list of {"adjacency", "ops"} objects; a bad one is named by position."""
    from wsnas import space

    try:
        items = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise CommandError(f"--cells {path}: cannot read a JSON list of cells ({error})") from error
    if not isinstance(items, list) or not items:
        raise CommandError(f'--cells {path}: expected a non-empty JSON list of {{"adjacency": [[...]], "ops": [...]}}')
    cells = []
    for position, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise space.InvalidCellError("not a JSON object")
            cells.append(space.Cell.from_dict(item))
        except (ValueError, TypeError) as error:
            raise CommandError(f"--cells {path}: cell {position} (counting from 0) is invalid: {error}") from error
    return cells


def _released_cells(per_space: int) -> list:
    from wsnas import baselines, reference, space

    sample = baselines.released_sample(reference.read_released_evaluations(), per_space)
    return space.cells_at(space.index_of(baselines.distinct_in_order(sample["hash"])))


def command_proxies(args: argparse.Namespace) -> int:
    import math

    import torch

    from wsnas import proxies

    if (args.cells is None) == (args.released is None):
        raise CommandError("give exactly one of --cells FILE or --released PER_SPACE")
    names = proxies.check_proxies(args.proxies.split(",") if args.proxies else proxies.PROXIES)
    torch.set_num_threads(args.threads)
    cells = _cells_from_file(args.cells) if args.cells else _released_cells(args.released)
    options = {"names": names, "seed": args.seed, "memory_format": args.memory_format, "precision": args.precision,
               "setup": proxies.setup_of(args.setup)}
    if args.out:
        scores = proxies.score_to_file(cells, args.out, progress=True, **options)
        by_hash = scores.set_index("hash")
        rows = [{"hash": cell.hash, **by_hash.loc[cell.hash, list(names)].to_dict()} for cell in cells]
    else:
        rows = [{key: row[key] for key in ("hash", *names)}
                for row in proxies.score_cells(cells, progress=True, **options)]
    if args.json:
        clean = [{key: (None if isinstance(v, float) and not math.isfinite(v) else
                        int(v) if key in proxies.COUNTS else v) for key, v in row.items()} for row in rows]
        print(json.dumps(clean))
    return 0


def command_profile_list(args: argparse.Namespace) -> int:
    from wsnas import profiles

    _print_table({name: profiles.profile_sections(name)["description"] for name in profiles.profile_names()},
                 "profile", "description")
    return 0


def command_profile_show(args: argparse.Namespace) -> int:
    from wsnas import profiles

    sections = profiles.profile_sections(args.name)
    if args.json:
        _print_json({**sections, "conventions": profiles.CONVENTIONS})
    else:
        print(sections.pop("description"))
        for section, settings in sections.items():
            print(f"\n[{section}]")
            for key, value in settings.items():
                convention = f"  # {profiles.CONVENTIONS[key]}" if key in profiles.CONVENTIONS else ""
                print(f"{key} = {json.dumps(value)}{convention}")
    return 0


class CommandError(RuntimeError):
    """A user error in a command's arguments."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wsnas", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    spaces = commands.add_parser("spaces", help=f"sizes of the search spaces {', '.join(SPACES)}")
    spaces.add_argument("--json", action="store_true", help="print a JSON object keyed by space name")
    spaces.set_defaults(handler=command_spaces)

    cell = commands.add_parser("cell", help="hash, pruned form, parameter count and spaces of one cell")
    cell.add_argument("--json", dest="json_cell", required=True, metavar="CELL",
                      help='the cell as JSON: {"adjacency": [[...]], "ops": ["input", ..., "output"]}')
    cell.set_defaults(handler=command_cell)

    nb101 = commands.add_parser("nb101", help="the NAS-Bench-101 ground truth")
    nb101_commands = nb101.add_subparsers(dest="nb101_command", required=True, metavar="COMMAND")
    query = nb101_commands.add_parser("query", help="the cell and metrics of one NB-101 hash")
    query.add_argument("--hash", required=True, help="NB-101 module hash (32 hex characters)")
    query.add_argument("--json", action="store_true", help="print JSON")
    query.set_defaults(handler=command_nb101_query)
    importer = nb101_commands.add_parser(
        "import", help="convert an official nasbench_only108/nasbench_full .tfrecord into the full table")
    importer.add_argument("path", help="path of the official .tfrecord file")
    importer.add_argument("--out", help="where to write the table (default: the user cache, used automatically)")
    importer.set_defaults(handler=command_nb101_import)

    reference = commands.add_parser("reference", help="the paper's tables recomputed from the authors' evaluations")
    reference_commands = reference.add_subparsers(dest="reference_command", required=True, metavar="COMMAND")
    table1 = reference_commands.add_parser("table1", help="Table 1: Spearman correlations per space and variant")
    table1.add_argument("--json", action="store_true", help="print JSON keyed by space, then column")
    table1.set_defaults(handler=command_reference_table1)
    table2 = reference_commands.add_parser("table2", help="Table 2: Wilcoxon p-values, WS vs random search")
    table2.add_argument("--json", action="store_true", help="print JSON keyed by space, then top1/top10/top100")
    table2.add_argument("--reading", default="default", help="which reading of the search protocol to use")
    table2.set_defaults(handler=command_reference_table2)
    claims = reference_commands.add_parser("claims", help="the paper's claims: rule, verdict, sensitivity to readings")
    claims.add_argument("--json", action="store_true", help="print a JSON list, one object per claim")
    claims.set_defaults(handler=command_reference_claims)
    train = commands.add_parser("train", help="train (or resume) one super-net and evaluate it NO-FT and BNS-FT")
    train.add_argument("--profile", default="demo", choices=profile_names(), help="the profile (default: demo)")
    train.add_argument("--space", default="A4", choices=SPACES, help="the search space (default: A4)")
    train.add_argument("--variant", default="baseline", choices=VARIANTS, help="the variant (default: baseline)")
    train.add_argument("--seed", type=int, default=0, help="seed of the super-net (default: 0)")
    train.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override one profile setting, e.g. --set epochs=2 (repeatable)")
    train.add_argument("--results", help="results directory (default: $WSNAS_RESULTS or the repository's results/)")
    train.set_defaults(handler=command_train)

    study = commands.add_parser("study", help="the CPU study: Spearman of A4 super-nets against their training budget")
    study.add_argument("--json", action="store_true", help="print per run, epoch and mode: spearman, kendall, n_cells")
    study.add_argument("--run", nargs="+", metavar="RUN",
                       help="train, evaluate and commit these study runs to data/study/ (resumable), e.g. A4_baseline_seed0_e81")
    modes = study.add_mutually_exclusive_group()  # with --run: one of these instead of training and evaluating
    modes.add_argument("--evaluate", type=int, metavar="EPOCH",
                       help="with --run: only evaluate this epoch of the trained runs into the results directory "
                            "(a second core can take a mid-run checkpoint while --run alone evaluates the rest)")
    modes.add_argument("--preserve", action="store_true",
                       help="with --run: commit what the runs' directories hold now to data/study/<run>/: checkpoints and "
                            "logs (state/; a fresh clone resumes from them) and the epochs already evaluated")
    study.add_argument("--allow-precision-switch", action="store_true",
                       help="with --run: continue a run in the precision `auto` means here (e.g. fp32 on a CPU without "
                            "native bf16) when it trained in another; the epoch of the switch is logged")
    modes.add_argument("--whole-space", action="store_true",
                       help="with --run: NO-FT and BNS-FT of every cell of the run's space, committed in chunks of 500 "
                            "to data/study/<run>/whole_space/ (resumable)")
    modes.add_argument("--bn-readings", action="store_true",
                       help="with --run: NO-FT of the trained run after replayed steps at another BN momentum (0.997, five "
                            "draws; 0.003 in fp32 and bf16), committed to data/study/<run>/bn_readings.parquet")
    modes.add_argument("--readings", type=int, metavar="EPOCH",
                       help="with --run: read a kept epoch of a run with two sets of BN statistics (BNS-FT last and mean, "
                            "NO-FT under each momentum), committed in chunks to data/study/<run>/readings/ (resumable)")
    study.add_argument("--cells", type=int, help="with --readings: how many of the run's evaluation cells (default: all "
                                                 "at the final epoch, 300 at a mid-run one)")
    study.add_argument("--draws", action="store_true",
                       help="with --readings: NO-FT at the first momentum after 3 replays of the last 100 steps, 300 cells")
    study.add_argument("--last-first", action="store_true",
                       help="with --whole-space or --readings: work through the chunks from the last, so that a second "
                            "process started without it shares the work (each skips the chunks the other committed)")
    modes.add_argument("--train-only", action="store_true", help="with --run: train (resumable), commit the state, do not evaluate")
    study.add_argument("--threads", type=int, default=1, help="torch threads when running (default: 1)")
    study.add_argument("--results", help="results directory (default: $WSNAS_RESULTS or results/)")
    study.set_defaults(handler=command_study)

    grid = commands.add_parser("sweep", help="the paper's grid of super-net runs (resumable), locally or on Ray")
    grid.add_argument("--profile", default="demo", choices=profile_names(), help="the profile (default: demo)")
    grid.add_argument("--spaces", nargs="+", choices=SPACES, metavar="SPACE",
                      help=f"spaces to run (default: all of {', '.join(SPACES)})")
    grid.add_argument("--variants", nargs="+", choices=VARIANTS, metavar="VARIANT",
                      help=f"variants to run (default: all of {', '.join(VARIANTS)})")
    grid.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4], help="seeds (default: 0 1 2 3 4)")
    grid.add_argument("--device", default="cpu", help="torch device of each run; several separated by commas (default: cpu)")
    grid.add_argument("--executor", choices=["local", "ray"], default="local",
                      help="local: on this machine; ray: in parallel on a Ray cluster (see --address)")
    grid.add_argument("--address", help="Ray cluster to join (default: $RAY_ADDRESS, else a cluster started "
                      "with `ray start` on this machine, else a new local Ray instance)")
    grid.add_argument("--runs-per-device", type=int, default=1, metavar="N",
                      help="runs sharing each device: Ray requests 1/N GPU per run; the local executor "
                      "runs N processes per device (--device cuda:0,cuda:1 lists several) (default: 1)")
    grid.add_argument("--retries", type=int, default=0,
                      help="Ray: times a run whose worker died is retried, resuming from its checkpoint (default: 0)")
    grid.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="override one profile setting in every run (repeatable)")
    grid.add_argument("--results", help="results directory, on a file system every worker sees "
                      "(default: $WSNAS_RESULTS or the repository's results/)")
    grid.set_defaults(handler=command_sweep)

    zero_cost = commands.add_parser("proxies", help="training-free proxies (synflow, snip, naswot, ...) of cells")
    zero_cost.add_argument("--cells", metavar="FILE", help='JSON list of {"adjacency": [[...]], "ops": [...]} objects')
    zero_cost.add_argument("--released", type=int, metavar="PER_SPACE",
                           help="instead of --cells: that many cells per space of the authors' baseline BNS-FT "
                                "seed-0 runs (seeded uniform sample, interleaved across spaces)")
    zero_cost.add_argument("--proxies", help="comma-separated subset (default: all of them)")
    zero_cost.add_argument("--seed", type=int, default=0, help="seed of the networks' initialisation (default: 0)")
    zero_cost.add_argument("--setup", default="paper",
                           help="network and mini-batch, one of wsnas.proxies.SETUPS (default: paper, the paper's "
                                "stem-16 network; published: NB-101's stem-128 network and NASLib's batch of 32)")
    zero_cost.add_argument("--memory-format", default="contiguous", choices=["contiguous", "channels_last"])
    zero_cost.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp64"],
                           help="fp64: scores that do not depend on how the CPU rounds, at about 2x the time")
    zero_cost.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1; part of the settings)")
    zero_cost.add_argument("--json", action="store_true", help="print a JSON list, one object per cell, in order")
    zero_cost.add_argument("--out", metavar="FILE.parquet", help="also keep the scores there; resumes what it holds")
    zero_cost.set_defaults(handler=command_proxies)

    profile = commands.add_parser("profile", help="the profiles: the scale and protocol of every stage")
    profile_commands = profile.add_subparsers(dest="profile_command", required=True, metavar="COMMAND")
    profile_commands.add_parser("list", help="every profile with its one-line description").set_defaults(
        handler=command_profile_list)
    show = profile_commands.add_parser("show", help="one profile, section by section")
    show.add_argument("name", help=f"the profile: {', '.join(profile_names())}")
    show.add_argument("--json", action="store_true", help="print JSON: description and one object per section")
    show.set_defaults(handler=command_profile_show)

    listing = commands.add_parser("runs", help="list the runs found in the results directory")
    listing.add_argument("--results", help="results directory (default: $WSNAS_RESULTS or the repository's results/)")
    listing.set_defaults(handler=command_runs)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (CommandError, ValueError, KeyError, LookupError, OSError, RuntimeError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"wsnas: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
