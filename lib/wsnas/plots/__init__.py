"""The paper's figures, one module per chapter; one style for all of them.

Figures are drawn `FIGURE_WIDTH` inches wide, the width of the book's content column at a 1,280 px
viewport, so that text drawn at 9 pt or more stays at least 9 pt on the page.
"""

import matplotlib as mpl
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

FIGURE_WIDTH = 7.5  # inches
FIGURE_DPI = 150  # sharp at the column's width, and at least 600 px wide

mpl.rcParams.update({
    "figure.dpi": FIGURE_DPI,
    "savefig.dpi": FIGURE_DPI,
    "font.size": 9.5,
    "axes.titlesize": 10,
    "axes.labelsize": 9.5,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "figure.titlesize": 10,
})


def finished(figure: Figure) -> Figure:
    """`figure`, released by pyplot: a notebook then shows it only where it is glued, not again at the cell's end."""
    plt.close(figure)
    return figure
