"""The `wsnas` command, end to end on the embedded data."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from wsnas import safe_pickle, tfrecord
from wsnas.cli import main
from wsnas.datafiles import data_path

SIZES = {"A0": 423_624, "A1": 120_933, "A2": 201_441, "A3": 90_782, "A4": 10_467,
         "A0-res": 81_020, "A0-nores": 342_604}


def run_json(capsys, *argv: str):
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_installed_entry_point_prints_space_sizes() -> None:
    result = subprocess.run(["wsnas", "spaces", "--json"], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == SIZES


def test_every_command_has_help() -> None:
    for argv in (["--help"], ["spaces", "--help"], ["cell", "--help"], ["nb101", "--help"],
                 ["nb101", "query", "--help"], ["nb101", "import", "--help"], ["reference", "--help"],
                 ["reference", "table1", "--help"], ["reference", "table2", "--help"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 0, argv


def naslib_cells() -> list[tuple[str, dict]]:
    records = safe_pickle.load(data_path("naslib_nb101_dummy.pkl"))
    return [(hash_, fixed) for hash_, (fixed, _computed) in records.items()]


@pytest.mark.parametrize("hash_, fixed", naslib_cells()[:10])
def test_cell_agrees_with_nb101_records(capsys, hash_: str, fixed: dict) -> None:
    description = {"adjacency": np.asarray(fixed["module_adjacency"]).tolist(), "ops": fixed["module_operations"]}
    answer = run_json(capsys, "cell", "--json", json.dumps(description))
    assert answer["hash"] == hash_
    assert answer["trainable_parameters"] == fixed["trainable_parameters"]
    assert "A0" in answer["spaces"]


def test_cell_of_the_real_tfrecord_record(capsys) -> None:
    """A cell from NB-101's own file, whose hash and parameter count the official record states."""
    record = next(tfrecord.read_records(data_path("nasbench_full_one_record.tfrecord")))
    description = {"adjacency": record.adjacency.tolist(), "ops": record.ops}
    answer = run_json(capsys, "cell", "--json", json.dumps(description))
    assert answer["hash"] == record.hash == "00005c142e6f48ac74fdcf73e3439874"
    assert answer["trainable_parameters"] == record.metrics.trainable_parameters


def test_cell_prunes_and_reports_spaces(capsys) -> None:
    # vertex 2 (a max-pool) reaches the output but is not reachable from the input: pruned away
    description = {"adjacency": [[0, 1, 0, 1], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]],
                   "ops": ["input", "conv3x3-bn-relu", "maxpool3x3", "output"]}
    answer = run_json(capsys, "cell", "--json", json.dumps(description))
    assert answer["ops"] == ["input", "conv3x3-bn-relu", "output"]
    assert answer["adjacency"] == [[0, 1, 1], [0, 0, 1], [0, 0, 0]]
    assert answer["spaces"] == ["A0", "A1", "A0-res"]


@pytest.mark.parametrize("description, problem", [
    ({"adjacency": [[0, 1], [1, 0]], "ops": ["input", "output"]}, "upper triangular"),
    ({"adjacency": [[0, 1, 0], [0, 0, 1], [0, 0, 0]], "ops": ["input", "conv5x5", "output"]}, "conv5x5"),
    ({"adjacency": [[0, 1, 0], [0, 0, 0], [0, 0, 0]], "ops": ["input", "maxpool3x3", "output"]}, "output"),
])
def test_bad_cell_prints_the_problem_and_fails(capsys, description: dict, problem: str) -> None:
    assert main(["cell", "--json", json.dumps(description)]) != 0
    assert problem in capsys.readouterr().err


def test_cell_rejects_malformed_json(capsys) -> None:
    assert main(["cell", "--json", "{adjacency"]) != 0
    assert "not valid JSON" in capsys.readouterr().err


def test_nb101_query_known_and_unknown(capsys) -> None:
    answer = run_json(capsys, "nb101", "query", "--hash", "5bf5488bb5181562f76d473c1b321062", "--json")
    assert len(answer["final_validation_accuracy"]) == 3
    assert answer["final_test_accuracy"][0] == pytest.approx(answer["test_accuracy_run0"])
    assert main(["nb101", "query", "--hash", "0" * 32]) != 0
    assert "not the hash of a NAS-Bench-101 cell" in capsys.readouterr().err


def test_reference_table1_json_shape(capsys) -> None:
    table = run_json(capsys, "reference", "table1", "--json")
    assert set(table) == set(SIZES)
    entry = table["A4"]["avg3/bns_ft"]
    assert set(entry) == {"mean", "std", "n", "excluded_seeds"}
    assert entry["n"] == 4 and entry["excluded_seeds"] == [1]
    assert round(table["A1"]["pro_rata/bns_ft"]["mean"], 2) == 0.75


def test_reference_table2_json_shape(capsys) -> None:
    table = run_json(capsys, "reference", "table2", "--json")
    assert set(table) == set(SIZES)
    for columns in table.values():
        assert set(columns) == {"top1", "top10", "top100"}
        for value in columns.values():
            assert 0 <= value["p"] <= 1 and value["direction"] in {">", "<", "x"}


def test_train_and_runs_commands_at_smoke_scale(tmp_path, capsys) -> None:
    results = str(tmp_path / "results")
    assert main(["train", "--profile", "smoke", "--space", "A4", "--variant", "single_k", "--results", results]) == 0
    out = capsys.readouterr().out
    assert "done:" in out and "bns_ft" in out
    assert main(["runs", "--results", results]) == 0
    assert "A4_single_k_seed0_smoke" in capsys.readouterr().out
    assert main(["train", "--profile", "smoke", "--set", "epochs", "--results", results]) != 0
    assert "KEY=VALUE" in capsys.readouterr().err


@pytest.mark.parametrize("argv, registry", [
    (["train", "--profile", "nope"], "profiles"),
    (["sweep", "--spaces", "A9"], "spaces"),
    (["train", "--variant", "nope"], "variants"),
])
def test_the_cli_offers_exactly_the_registries_choices(argv, registry, capsys):
    from wsnas.cli import build_parser
    from wsnas.profiles import profile_names
    from wsnas.settings import VARIANTS
    from wsnas.space import SPACES

    expected = {"profiles": profile_names(), "spaces": SPACES, "variants": list(VARIANTS)}[registry]
    with pytest.raises(SystemExit):
        build_parser().parse_args(argv)
    refusal = capsys.readouterr().err
    assert "invalid choice" in refusal and all(repr(name) in refusal for name in expected), refusal


def test_study_modes_are_exclusive_and_a_precision_switch_goes_with_training(capsys):
    from wsnas.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["study", "--run", "A4_baseline_seed0_e81", "--preserve", "--whole-space"])
    assert "not allowed with argument --preserve" in capsys.readouterr().err
    args = build_parser().parse_args(["study", "--run", "A4_baseline_seed0_e81", "--train-only", "--allow-precision-switch"])
    assert args.train_only and args.allow_precision_switch
