"""Figures of the search-spaces chapter: the paper's Figure 1, example cells, accuracy per space."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from wsnas import names, space
from wsnas.nb101 import run0_accuracy_summary, space_run0_accuracy
from wsnas.plots import FIGURE_WIDTH, finished
from wsnas.reference import noise_ceiling
from wsnas.space import PAPER_ORDER, Cell

OP_COLOURS = {
    "input": "#dddddd", "output": "#dddddd",
    "conv3x3-bn-relu": "#4c72b0", "conv1x1-bn-relu": "#55a868", "maxpool3x3": "#dd8452",
}
OP_SHORT = {"input": "IN", "output": "OUT", "conv3x3-bn-relu": "3×3", "conv1x1-bn-relu": "1×1", "maxpool3x3": "MP"}


NODE_SIZE = 650  # points², the cell drawings' vertices at most (smaller where a long chain must fit the axes)


def draw_cell(cell: Cell, ax: plt.Axes, title: str | None = None) -> None:
    """Draw a cell as a left-to-right DAG coloured by operation, vertices in columns by topological depth.

    An edge that skips a column is drawn as an arc (alternately above and below), so that it never runs hidden
    along the straight line of a chain of vertices.
    """
    graph = nx.DiGraph(cell.adjacency)
    for depth, generation in enumerate(nx.topological_generations(graph)):
        for node in generation:
            graph.nodes[node]["layer"] = depth
    positions = nx.multipartite_layout(graph, subset_key="layer")
    layer = nx.get_node_attributes(graph, "layer")
    width = ax.get_window_extent().width * 72 / ax.figure.dpi  # points
    size = min(NODE_SIZE, (0.95 * width / (max(layer.values()) + 1)) ** 2)  # vertices of a chain just apart
    nx.draw_networkx_nodes(graph, positions, ax=ax, node_color=[OP_COLOURS[op] for op in cell.ops], node_size=size)
    nx.draw_networkx_labels(graph, positions, ax=ax, labels={i: OP_SHORT[op] for i, op in enumerate(cell.ops)},
                            font_size=7 if size > 400 else 6)
    adjacent = [(u, v) for u, v in graph.edges if layer[v] - layer[u] == 1]
    nx.draw_networkx_edges(graph, positions, edgelist=adjacent, ax=ax, node_size=size, arrowsize=10)
    skipping = sorted((u, v) for u, v in graph.edges if layer[v] - layer[u] > 1)
    for turn, (u, v) in enumerate(skipping):
        bend = (0.3 + 0.08 * (layer[v] - layer[u] - 2)) * (1 if turn % 2 == 0 else -1)
        nx.draw_networkx_edges(graph, positions, edgelist=[(u, v)], ax=ax, node_size=size, arrowsize=10,
                               connectionstyle=f"arc3,rad={bend}")
    xs, ys = zip(*positions.values())
    height = max(max(ys) - min(ys), 0.5 * (max(xs) - min(xs)))  # room for the arcs above and below a chain
    ax.set_ylim(min(ys) - 0.35 * height, max(ys) + 0.35 * height)
    ax.set_xlim(min(xs) - 0.2, max(xs) + 0.2)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)


def draw_space_properties(rules: dict[str, dict], axes: np.ndarray) -> None:
    """The paper's Figure 1: for each space, the edges that discriminate it.

    `rules[space]` holds `output_in_degree` (an int, or None when any) and `input_output_edge`
    (True, False, or None when either); G stands for the rest of the cell.
    """
    for ax, (name, rule) in zip(axes.flat, rules.items()):
        degree, residual = rule.get("output_in_degree"), rule.get("input_output_edge")
        fan = degree if degree else 2
        ax.set_xlim(-0.3, 3.3)
        ax.set_ylim(-1.3, 1.3)
        _node(ax, (0, 0), "IN")
        _node(ax, (1.4, 0), "G")
        _node(ax, (3, 0), "&" if fan > 1 else "OUT")
        ax.annotate("", (1.2, 0), (0.2, 0), arrowprops={"arrowstyle": "->", "linestyle": ":"})
        for offset in np.linspace(-0.5, 0.5, fan) if fan > 1 else [0.0]:
            ax.annotate("", (2.8, offset * 0.4), (1.6, offset),
                        arrowprops={"arrowstyle": "->", "linestyle": "-" if degree else ":"})
        if residual is not False:
            ax.annotate("", (3.0, 0.25), (0.05, 0.25),
                        arrowprops={"arrowstyle": "->", "linestyle": "-" if residual else ":",
                                    "connectionstyle": "arc3,rad=-0.5", "color": "#c44e52"})
            ax.text(1.5, 1.05, "+ residual" if residual else "± residual", ha="center", fontsize=9, color="#c44e52")
        label = f"{degree} to output" if degree else "any number to output"
        ax.text(1.5, -1.15, label, ha="center", fontsize=9)
        ax.set_title(name, fontsize=10, color=names.SPACE_COLOURS.get(name, "black"))
        ax.set_axis_off()


def _node(ax: plt.Axes, xy: tuple[float, float], label: str) -> None:
    ax.add_patch(plt.Circle(xy, 0.22, color="#dddddd", zorder=2))
    ax.text(*xy, label, ha="center", va="center", fontsize=9, zorder=3)


def accuracy_by_space(accuracy: pd.DataFrame, ax: plt.Axes) -> None:
    """Distribution of NB-101 accuracy per space (columns `space`, `accuracy`)."""
    order = [space for space in PAPER_ORDER if space in set(accuracy["space"])]
    sns.boxenplot(data=accuracy, x="space", y="accuracy", hue="space", order=order, hue_order=order,
                  palette=names.SPACE_COLOURS, legend=False, ax=ax, showfliers=False)
    ax.set_ylabel("NB-101 test accuracy (run 0)")
    ax.set_xlabel("")


FAILED_BELOW = 0.5  # NB-101 accuracy of a cell that failed to train: left out of the accuracy figure


def summary_tables(spaces: Sequence[str] = PAPER_ORDER) -> dict[str, object]:
    """The glue of the spaces' summary: cell count, share with the residual edge in A0, and the size and vertex tables."""
    summary = space.space_summary()
    percent_1 = partial(names.percent, places=1)
    return {
        "n_cells": f"{int(summary.loc['A0', 'cells']):,}",
        "share_residual_A0": f"{summary.loc['A0', 'share with input→output edge']:.1%}",
        "tab_space_summary": names.readable(summary.loc[list(spaces)], {
            "cells": names.integer, "share of A0": percent_1, "share with input→output edge": percent_1,
            "median parameters (128 ch.)": names.integer}),
        "tab_by_vertices": names.readable(space.counts_by_vertices().loc[list(spaces)], default=names.integer),
    }


def space_properties_figure() -> Figure:
    """The paper's Figure 1, one panel per space (`wsnas.space.SPACE_RULES`)."""
    figure, axes = plt.subplots(2, 4, figsize=(FIGURE_WIDTH, 4.2))
    draw_space_properties(space.SPACE_RULES, axes.ravel()[:len(space.SPACE_RULES)])
    axes.ravel()[-1].set_axis_off()
    return finished(figure)


def example_cells_figure(spaces: Sequence[str] = PAPER_ORDER, per_space: int = 3, seed: int = 0) -> Figure:
    """`per_space` cells drawn uniformly from each space (row k seeded `seed + k`), titled with the space and hash."""
    figure, axes = plt.subplots(len(spaces), per_space, figsize=(FIGURE_WIDTH, 2.2 * len(spaces)), squeeze=False)
    for offset, (row, name) in enumerate(zip(axes, spaces)):
        for ax, index in zip(row, space.sample_cells(name, per_space, seed=seed + offset)):
            cell = space.cell_at(int(index))
            draw_cell(cell, ax, title=f"{name} · {cell.hash[:8]}")
    figure.tight_layout()
    return finished(figure)


def accuracy_figure(spaces: Sequence[str] = PAPER_ORDER) -> Figure:
    """NB-101 first-repeat test accuracy of every cell per space, cells that failed to train left out."""
    accuracy = pd.concat([pd.DataFrame({"space": name, "accuracy": space_run0_accuracy(name)}) for name in spaces],
                         ignore_index=True)
    figure, ax = plt.subplots(figsize=(FIGURE_WIDTH, 3.2))
    accuracy_by_space(accuracy[accuracy["accuracy"] > FAILED_BELOW], ax)
    return finished(figure)


def accuracy_table(spaces: Sequence[str] = PAPER_ORDER) -> dict[str, object]:
    """The glue of the accuracy table: the best cell of A0 and the summary per space (`nb101.run0_accuracy_summary`)."""
    summary = run0_accuracy_summary(spaces, FAILED_BELOW).rename(columns={
        "count": "cells", "50%": "median", "90%": "90th pct.", "99%": "99th pct."})
    return {"best_A0": f"{space_run0_accuracy('A0').max():.2%}",
            "tab_accuracy_by_space": names.readable(summary, {
                "cells": names.integer, "std": partial(names.percent, places=1),
                f"share below {FAILED_BELOW:.0%}": partial(names.percent, places=2)},
                default=partial(names.percent, places=2))}


def ceiling_table() -> dict[str, object]:
    """The glue of the noise ceiling: Spearman ρ between two repeats over A0, and the table per space."""
    ceiling = noise_ceiling()
    return {"ceiling_A0": f"{ceiling.loc['A0', 'repeat_vs_repeat']:.3f}",
            "tab_noise_ceiling": names.readable(ceiling, {"cells": names.integer}, default=names.rho)}
