"""The chapters' drawings show what they claim to (matplotlib artists, no image comparison)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

from wsnas.plots.spaces import draw_cell  # noqa: E402
from wsnas.space import Cell  # noqa: E402


def test_cell_drawings_bend_every_edge_that_skips_a_column() -> None:
    """A chain IN → 3×3 → MP → OUT with the input→output edge and IN → MP: the two skipping edges are arcs, the
    three chain edges straight, so no edge hides along the chain's line."""
    adjacency = [[0, 1, 1, 1], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    cell = Cell(adjacency, ("input", "conv3x3-bn-relu", "maxpool3x3", "output"))
    figure, ax = plt.subplots(figsize=(3, 2))
    draw_cell(cell, ax)
    arrows = [patch for patch in ax.patches if isinstance(patch, FancyArrowPatch)]
    bends = sorted(abs(arrow.get_connectionstyle().rad) if hasattr(arrow.get_connectionstyle(), "rad") else 0.0
                   for arrow in arrows)
    plt.close(figure)
    assert len(arrows) == 5
    assert bends[:3] == [0.0, 0.0, 0.0] and all(bend > 0 for bend in bends[3:])
