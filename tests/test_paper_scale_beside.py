"""Our paper-scale run beside the released A4 super-nets in the Bias, Search and Baselines chapters (issue 22): the
latest complete reading is the one labelled and the one used, and ours is in every figure and table. Real data."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import matplotlib
import nbformat
import numpy as np
import pandas as pd
import pytest
import scipy.stats

from wsnas import baselines, bias, names, ours, reference, results, search
from wsnas.nb101 import NB101
from wsnas.profiles import load_profile

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
RUN = results.PAPER_SCALE_RUN


def held_cells(run: str = RUN) -> pd.Series:
    """Per committed epoch, the cells that every reading shown holds, counted here from the committed readings."""
    readings = results.load_readings(run)
    shown = ("bns_ft_last", f"no_ft@{results.MAIN_PY_MOMENTUM:g}", f"no_ft@{results.CORRECTED_MOMENTUM:g}")
    counts = readings[readings["reading"].isin(shown)].groupby(["epoch", "reading"]).size().unstack()
    return counts.reindex(columns=list(shown)).fillna(0).min(axis=1)


def complete_checkpoints(run: str = RUN) -> list[int]:
    """The kept checkpoints whose every reading shown holds CHECKPOINT_CELLS."""
    held = held_cells(run)
    return [epoch for epoch in results.study_run(run).checkpoints if held.get(epoch, 0) >= results.CHECKPOINT_CELLS]


def expected_latest(run: str = RUN) -> tuple[int, int]:
    """The rule, computed here from the committed readings alone: the final epoch when every reading shown holds the
    profile's evaluation cells, else the latest kept checkpoint whose every reading holds CHECKPOINT_CELLS."""
    spec, held = results.study_run(run), held_cells(run)
    if held.get(spec.epochs, 0) >= load_profile(spec.profile)["num_eval_cells"]:
        return spec.epochs, int(held[spec.epochs])
    complete = complete_checkpoints(run)
    assert complete, "no complete reading of the paper-scale run is committed"
    return max(complete), int(held[max(complete)])


@pytest.fixture(scope="module")
def latest() -> ours.PaperScaleReading:
    reading = ours.latest_paper_scale_reading(RUN)
    assert reading is not None
    return reading


@pytest.fixture(scope="module")
def evaluations() -> pd.DataFrame:
    return reference.load_evaluations()


def committed(epoch: int, reading: str = "bns_ft_last") -> pd.DataFrame:
    readings = results.load_readings(RUN)
    return readings[(readings["epoch"] == epoch) & (readings["reading"] == reading)].reset_index(drop=True)


def test_the_latest_complete_reading_is_the_one_chosen_and_labelled(latest) -> None:
    epoch, cells = expected_latest()
    assert (latest.epoch, latest.n_cells) == (epoch, cells)
    assert latest.label.startswith("ours, ") and f"{cells:,} cells" in latest.label
    assert (f"final epoch {epoch}" if latest.final else f"epoch {epoch} of 432") in latest.label
    assert "profile paper" in latest.scale and f"{cells:,} cells" in latest.scale
    if not latest.final:
        assert "checkpoint" in latest.scale and "not the finished run" in latest.scale
    mine = latest.reading("bns_ft_last")
    same = committed(epoch)
    assert mine["hash"].tolist() == same["hash"].tolist()
    np.testing.assert_array_equal(mine["proxy_accuracy"], same["proxy_accuracy"])
    assert set(latest.cells["reading"]) == set(ours.OUR_READINGS)


def test_a_checkpoint_read_only_in_part_is_not_chosen(tmp_path, monkeypatch) -> None:
    """The real data with the last chunk of the latest complete epoch left out: the rule falls back to the latest
    complete checkpoint before it, whose label then names it."""
    source = results.data_dir()
    epoch, _ = expected_latest()
    earlier = [e for e in complete_checkpoints() if e < epoch]
    if not earlier:
        pytest.skip("no earlier complete checkpoint to fall back to")
    for entry in source.iterdir():
        if entry.name != results.STUDY_DIR:
            (tmp_path / entry.name).symlink_to(entry)
    (tmp_path / results.STUDY_DIR).mkdir()
    for run in (source / results.STUDY_DIR).iterdir():
        if run.name != RUN:
            (tmp_path / results.STUDY_DIR / run.name).symlink_to(run)
    folder = tmp_path / results.STUDY_DIR / RUN / results.READINGS_DIR
    folder.mkdir(parents=True)
    chunks = sorted((source / results.STUDY_DIR / RUN / results.READINGS_DIR).glob("epoch*.parquet"))
    partial = sorted(path for path in chunks if path.name.startswith(f"epoch{epoch:03d}_cells"))[-1]
    for path in chunks:
        if path != partial:
            (folder / path.name).symlink_to(path)
    monkeypatch.setenv("WSNAS_DATA", str(tmp_path))
    fallback = ours.latest_paper_scale_reading(RUN)
    assert fallback is not None and fallback.epoch == max(earlier) and f"epoch {max(earlier)} of" in fallback.label
    assert epoch not in ours.complete_epochs(RUN)


def test_effect_in_one_run_matches_the_per_run_effects(evaluations) -> None:
    features, residuals = bias.features_and_residuals(evaluations)
    per_run = bias.run_effects(residuals, features, ["first_vertex_conv3x3"]).set_index(["space", "seed"])["effect"]
    run = evaluations.query("space == 'A4' and column == 'baseline/bns_ft' and seed == 2")
    effect = bias.effect_in_one_run(run["proxy_accuracy"], run["mean_validation_accuracy"],
                                    features.loc[run["hash"], "first_vertex_conv3x3"], n_boot=100)
    assert effect["effect"] == pytest.approx(per_run[("A4", 2)])
    assert effect["low"] < effect["effect"] < effect["high"] and effect["cells"] == len(run)


def test_figure3_and_figure4_hold_ours_at_the_labelled_epoch(evaluations, latest) -> None:
    from wsnas.plots import bias as bias_plots

    figure = bias_plots.scatter_grid(evaluations, ("A4", "A1"), 3, ours=latest)
    when = f"final epoch {latest.epoch}" if latest.final else f"epoch {latest.epoch}/{latest.epochs}"
    titled = [ax for ax in figure.axes if f"ours, {when}, {latest.n_cells:,} cells" in ax.get_title()]
    assert len(titled) == 3, "a row of three panels of ours (BNS-FT, NO-FT under each momentum)"
    assert [ax.get_title().splitlines()[1] for ax in titled] == [
        "BNS-FT, last batch", "NO-FT, momentum 0.997", "NO-FT, momentum 0.003"]
    assert latest.label in figure._suptitle.get_text()
    for top, reading in zip(titled, ours.OUR_READINGS):  # each panel's points: the committed reading of that epoch
        main = next(ax for ax in top.get_shared_x_axes().get_siblings(top) if ax is not top)
        shown = sorted(float(point[1]) for point in main.collections[0].get_offsets())
        assert shown == sorted(committed(latest.epoch, reading)["proxy_accuracy"])
    features, _ = bias.features_and_residuals(evaluations)
    figure4 = bias_plots.figure4(evaluations, features, ours=latest)
    assert any(f"ours, {when}, {latest.n_cells:,} cells" in ax.get_title() for ax in figure4.axes)
    matplotlib.pyplot.close("all")


def assert_ours_beside_the_five_released_runs(table, latest) -> None:
    """The table has a row of our run at its labelled epoch with its cell count, and one per released A4 run cut to
    as many cells."""
    assert latest.label in table.index and table.loc[latest.label, "cells"] == f"{latest.n_cells:,}"
    assert sum(index.endswith(f"first {latest.n_cells:,}") for index in table.index) == 5


def test_the_a4_bias_table_holds_ours_at_the_labelled_epoch(evaluations, latest) -> None:
    from wsnas.plots import bias as bias_plots

    glued = bias_plots.ours_bias_table(evaluations, latest, n_boot=50)
    table = glued["tab_ours_bias"]
    assert_ours_beside_the_five_released_runs(table, latest)
    cells = committed(latest.epoch)
    has = bias.cell_features(cells["hash"].unique()).set_index("hash").loc[cells["hash"], "first_vertex_conv3x3"]
    expected = bias.effect_in_one_run(cells["proxy_accuracy"], cells["nb101_validation_accuracy"], has, n_boot=50)
    assert glued["ours_bias_effect"].startswith(names.decimal(expected["effect"], 2, signed=True))
    assert glued["ours_bias_label"] == latest.label


def test_the_search_table_holds_ours_at_the_labelled_epoch(evaluations, latest) -> None:
    from wsnas.plots import search as search_plots

    glued = search_plots.ours_search_table(evaluations, latest, permutations=200)
    table = glued["tab_ours_search"]
    assert_ours_beside_the_five_released_runs(table, latest)
    cells = committed(latest.epoch)
    metrics = NB101.default().metrics(cells["hash"].unique()).loc[cells["hash"]]
    space = evaluations[evaluations["space"] == "A4"]  # the regret's reference: the best of the released A4 cells and ours
    best = max(search.best_test_accuracy(space, search.resolve_reading("default")), metrics["mean_test_accuracy"].max())
    order = search.ws_order(cells["proxy_accuracy"].to_numpy(), "reverse_position")[:1]
    ws_top1 = best - metrics["mean_test_accuracy"].to_numpy()[order][0]
    assert glued["ours_search_top1"].startswith(f"WS {100 * ws_top1:.2f} vs random")


def test_top_k_one_run_agrees_with_the_search_over_cells(evaluations) -> None:
    run = evaluations.query("space == 'A3' and column == 'baseline/bns_ft' and seed == 1")
    arrays = [run.sort_values("position")[name] for name in ("proxy_accuracy", "mean_validation_accuracy",
                                                           "mean_test_accuracy", "mean_training_time")]
    best = float(arrays[2].max())
    one = search.top_k_one_run(*arrays, best=best, top_k=(1, 10), permutations=300).set_index("k")
    for k in (1, 10):
        over = search.search_over_cells(*arrays, k=k, permutations=300)
        assert one.loc[k, "ws"] == pytest.approx(over["guided"])
        assert one.loc[k, "random"] == pytest.approx(over["random"], abs=0.004)  # two draws of 300 random orders
    assert set(one["direction"]) <= {"<", ">", "x"} and (one["p"] > 0).all()


def test_the_baselines_table_holds_ours_under_each_reading_at_the_labelled_epoch(evaluations, latest) -> None:
    from wsnas.plots import baselines as baseline_plots

    glued = baseline_plots.ours_free_rankers_table(evaluations, latest, n_boot=50)
    table = glued["tab_ours_free"]
    mine = table.loc[latest.label]
    assert list(mine.index) == ["BNS-FT, last batch", "NO-FT, momentum 0.997", "NO-FT, momentum 0.003"]
    assert (mine["cells"] == f"{latest.n_cells:,}").all()
    released_no_ft = [reading for name, reading in table.index if name.startswith("released") and reading.startswith("NO-FT")]
    assert released_no_ft == ["NO-FT, momentum 0.003"] * 5  # as every released settings file records
    for reading, shown in zip(ours.OUR_READINGS, mine.index):
        cells = committed(latest.epoch, reading)
        rho = scipy.stats.spearmanr(cells["proxy_accuracy"], cells["nb101_validation_accuracy"]).statistic
        assert mine.loc[shown, "super-net ρ"] == names.rho(rho)
    beside = baselines.supernet_beside_counts(cells["hash"], cells["proxy_accuracy"], cells["nb101_validation_accuracy"],
                                              n_boot=50)
    counts = results.spearman_beside_counts(cells.assign(mode="no_ft")).iloc[0]
    assert beside["params"] == pytest.approx(counts["params"]) and beside["flops"] == pytest.approx(counts["flops"])


CHAPTER_CALLS = {"bias": ("scatter_grid", "figure4", "ours_bias_table"), "ws_search": ("ours_search_table",),
                 "baselines": ("ours_free_rankers_table",)}
CAPTION_GLUE = {"bias": ("fig-bias-figure3", "fig-bias-figure4", "fig-bias-all-spaces", "tab-bias-ours"),
                "ws_search": ("tab-search-ours",), "baselines": ("tab-baselines-ours-free",)}


@pytest.mark.parametrize("chapter", sorted(CHAPTER_CALLS))
def test_each_chapter_sets_ours_beside_the_released_and_every_caption_names_its_epoch(chapter: str) -> None:
    notebook = nbformat.read(ROOT / "book" / f"{chapter}.ipynb", as_version=4)
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert 'paper_scale_run = "A4_baseline_seed0_paper_e432"' in notebook.cells[1].source
    assert "latest_paper_scale_reading(paper_scale_run)" in code
    calls = [node for node in ast.walk(ast.parse(code)) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute) and node.func.attr in CHAPTER_CALLS[chapter]]
    passed = {node.func.attr for node in calls if any(isinstance(arg, ast.Name) and arg.id == "ours" for arg in
                                                      [*node.args, *(keyword.value for keyword in node.keywords)])}
    assert passed == set(CHAPTER_CALLS[chapter]), f"{chapter} calls {set(CHAPTER_CALLS[chapter]) - passed} without ours"
    assert all(any(isinstance(arg, ast.Name) and arg.id == "ours" for arg in
                   [*node.args, *(keyword.value for keyword in node.keywords)]) for node in calls), "a call without ours"
    markdown = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    for name in CAPTION_GLUE[chapter]:
        caption = markdown.split(f":name: {name}\n", 1)[1].split("```", 1)[0]
        assert re.search(r"\{glue:text\}`ours_\w+_label`", caption) and re.search(r"\{glue:text\}`ours_\w+_scale`", caption), name
