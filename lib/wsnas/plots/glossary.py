"""Tables of the glossary: the search spaces, the readings of the search protocol, the structural features."""

from __future__ import annotations

import pandas as pd
from IPython.display import HTML
from pandas.io.formats.style import Styler

from wsnas import bias, names, search, space

SWATCH = '<span style="display:inline-block;width:1em;height:1em;background:{};vertical-align:middle"></span>'


def spaces_table() -> HTML:
    """Each search space with its colour swatch, its number of cells and its definition."""
    sizes = space.space_sizes()
    rows = "".join(
        f"<tr><td>{SWATCH.format(names.SPACE_COLOURS[name])} {name}</td><td>{names.integer(sizes[name])}</td>"
        f"<td>{definition}</td></tr>"
        for name, definition in names.SPACE_DEFINITIONS.items())
    return HTML('<table class="wsnas-table"><thead><tr><th>space</th><th>cells</th><th>definition</th></tr></thead>'
                f"<tbody>{rows}</tbody></table>")


def reading_definitions() -> Styler:
    """Each reading of the search protocol (`wsnas.search.READINGS`) and what it changes."""
    readings = pd.DataFrame({"reading": [names.READING_NAMES[key] for key in search.READINGS],
                             "what it changes": [names.plain(reading.description) for reading in search.READINGS.values()]})
    return readings.style.hide(axis="index")


def features_table() -> Styler:
    """Each structural feature of the Bias chapter (`wsnas.bias.FEATURES`) and its meaning."""
    features = pd.DataFrame({"feature": [names.FEATURE_NAMES[key] for key in bias.FEATURES],
                             "meaning": [names.plain(description) for _, description in bias.FEATURES.values()]})
    return features.style.hide(axis="index")
