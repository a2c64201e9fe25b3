"""Numbered, captioned tables pasted from notebook outputs: the ``{glue:table}`` directive.

Sphinx numbers figures and tables separately ("Figure 2.1", "Table 2.1"), but only a docutils
``table`` node counts as a table, and a table that a notebook cell shows (a pandas DataFrame or
Styler, an HTML table) reaches the page as raw HTML. This extension adds ``{glue:table}``, the twin
of myst-nb's ``{glue:figure}``: it pastes a glued output under a caption, in a node that Sphinx
numbers as a *table* (``numfig_format['table']``), so that ``{numref}`` can cite it::

    ```{glue:table} table1_left
    :name: tab-table1-left
    The paper's Table 1, left half, beside the recomputation (paper; recomputed).
    ```

In HTML the table is a ``<figure class="numbered-table">`` whose ``<figcaption>`` ("Table N" and
the caption) comes first, above the table.

Numbers carry the chapter's number (``numfig_secnum_depth: 1`` with a numbered table of contents);
the root page, outside the numbered chapters, would restart at a bare "Table 1", which reads like
the paper's Table 1, so its figures and tables are numbered as chapter 0 ("Table 0.1").
"""

from __future__ import annotations

from docutils import nodes
from myst_nb.ext.glue.directives import PasteFigureDirective
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.writers.html5 import HTML5Translator


class numbered_table(nodes.figure):
    """A pasted output with a caption, numbered as a table."""


class table_caption(nodes.caption):
    """The caption of a numbered table: above the table, so it closes its own ``<figcaption>``."""


def visit_numbered_table(self: HTML5Translator, node: numbered_table) -> None:
    self.body.append(self.starttag(node, "figure"))


def depart_numbered_table(self: HTML5Translator, node: numbered_table) -> None:
    self.body.append("</figure>\n")


def visit_table_caption(self: HTML5Translator, node: table_caption) -> None:
    self.body.append("<figcaption>\n" + self.starttag(node, "p", ""))
    self.add_fignumber(node.parent)
    self.body.append(self.starttag(node, "span", "", CLASS="caption-text"))


def depart_table_caption(self: HTML5Translator, node: table_caption) -> None:
    self.body.append("</span>")
    self.add_permalink_ref(node.parent, "Link to this table")
    self.body.append("</p>\n</figcaption>\n")


class PasteTableDirective(PasteFigureDirective):
    """``{glue:table} key``: the glued output ``key``, with a ``:name:`` and a caption (the content)."""

    def run(self) -> list[nodes.Node]:
        pasted = super().run()
        figure = pasted[0]
        if not isinstance(figure, nodes.figure):  # the key was not found: pass the warning on
            return pasted
        table = numbered_table(figure.rawsource, **figure.attributes)
        table["classes"].append("numbered-table")
        for child in figure.children:
            if isinstance(child, nodes.caption):
                table.insert(0, table_caption(child.rawsource, "", *child.children))
            else:
                table += child
        for node_id in table["ids"]:  # the label now points at the table, not at the discarded figure
            self.state.document.ids[node_id] = table
        return [table, *pasted[1:]]


def number_root_as_chapter_zero(app: Sphinx, env: BuildEnvironment) -> list[str]:
    """Prefix the root page's figure and table numbers with 0 (runs after Sphinx numbers them).

    Sphinx renumbers every build, so the root page is written again whenever it has numbers.
    """
    renumbered = False
    for numbers in env.toc_fignumbers.get(app.config.root_doc, {}).values():
        for key, number in numbers.items():
            if len(number) == 1:
                numbers[key] = (0, *number)
                renumbered = True
    return [app.config.root_doc] if renumbered else []


def setup(app: Sphinx) -> dict:
    app.setup_extension("myst_nb")  # the glue domain must exist before a directive joins it
    app.add_enumerable_node(numbered_table, "table", html=(visit_numbered_table, depart_numbered_table))
    app.add_node(table_caption, html=(visit_table_caption, depart_table_caption))
    app.add_directive_to_domain("glue", "table", PasteTableDirective)
    app.connect("env-get-updated", number_root_as_chapter_zero, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
