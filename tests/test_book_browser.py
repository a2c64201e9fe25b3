"""Build the book and read every page as a reader would, in headless Chromium at 1,280 px.

Per page: it loads without errors; it shows its tables and figures; no code input is visible; no
table is wider than its container; no `NaN`, no absolute path of the build machine, no internal
identifier (snake_case names, "variant/mode" columns) in any table; every image is loaded and every
figure of a cell output (shown in the cell or pasted under a caption) is at least 600 px wide.
Chapters show the provenance legend and end with a Findings box; the introduction answers first, says
how to run the book and links the claims to their chapters. Every figure and every table of a cell
output sits under a numbered caption ("Figure N", "Table N"); no script or stylesheet comes from the
network; every page but the glossary and the references links to another chapter and to the glossary;
every bibliography entry is cited.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "book" / "_build" / "html"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}
MIN_FIGURE_WIDTH = 600  # px, rendered

# What each page must show: at least this many non-empty tables and figures.
EXPECTED = {
    "intro": {"tables": 2, "figures": 0},
    "spaces": {"tables": 4, "figures": 3},
    "ranking": {"tables": 5, "figures": 1},
    "variants": {"tables": 3, "figures": 1},
    "ws_search": {"tables": 3, "figures": 2},
    "bias": {"tables": 4, "figures": 4},
    "training": {"tables": 2, "figures": 1},
    "glossary": {"tables": 3, "figures": 0},
}
NOT_CHAPTERS = {"intro", "glossary", "references"}  # pages without a provenance legend or Findings box
REFERENCE_PAGES = {"glossary", "references"}  # pages that need not link to other chapters or to the glossary
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

NAN = re.compile(r"\bNaN\b|\bnan\b")
ABSOLUTE_PATH = re.compile(r"(?<![\w.~])/(?:home|root|tmp|work|Users|usr|var|opt|mnt)/|\b[A-Z]:\\\\")
# snake_case words (also run ids such as A4_baseline_seed0) and "variant/mode" columns, but not file or
# path names (a word next to '/', '.', '@' or '-' is part of a path, URL or file name).
INTERNAL = re.compile(r"(?<![\w/.@-])[A-Za-z0-9]+(?:_[A-Za-z0-9]+)+(?![\w/.@-])|\b[a-z_+]+/(?:no_ft|bns_ft)\b")

def quick_start_commands() -> list[str]:
    """The commands of the README's quick start (the block between its quick-start markers), without comments."""
    block = (ROOT / "README.md").read_text().split("<!-- quick-start")[1].split("<!-- /quick-start -->")[0]
    code = block.split("```bash")[1].split("```")[0]
    return [line.split("#")[0].strip() for line in code.splitlines() if line.split("#")[0].strip()]


# Text of the page a reader can read: everything but code inputs, scripts and styles.
READER_TEXT = """() => {
  const article = document.querySelector('article') || document.body;
  const copy = article.cloneNode(true);
  copy.querySelectorAll('.cell_input, script, style, .highlight, pre, code').forEach(node => node.remove());
  return copy.textContent;
}"""
OVERFLOWING_TABLES = """() => {
  const article = document.querySelector('article');
  const limit = article.getBoundingClientRect().right + 1;
  return [...article.querySelectorAll('table')]
    .filter(table => table.getBoundingClientRect().width > 0)
    .filter(table => {
      const container = table.parentElement.getBoundingClientRect();
      const box = table.getBoundingClientRect();
      return box.right > Math.min(limit, container.right + 1) || table.scrollWidth > table.clientWidth + 1;
    })
    .map(table => table.innerText.slice(0, 80));
}"""
VISIBLE_INPUTS = """() => [...document.querySelectorAll('article .cell_input')]
  .filter(node => node.checkVisibility({visibilityProperty: true}) && node.innerText.trim() !== '')
  .map(node => node.innerText.slice(0, 80))"""
# Figures (every image) and tables of cell outputs (pasted or not; the readings table inside a verdict box belongs
# to the box) whose enclosing <figure> has no caption numbered "Figure N" / "Table N" (N may carry a chapter prefix).
UNCAPTIONED = r"""() => {
  const article = document.querySelector('article');
  const numbered = (element, kind) => {
    const figure = element.closest('figure');
    const caption = figure && [...figure.children].find(child => child.tagName === 'FIGCAPTION');
    const number = caption && caption.querySelector('.caption-number');
    return !!number && new RegExp('^' + kind + ' \\d+(\\.\\d+)*$').test(number.textContent.trim());
  };
  const tables = [...article.querySelectorAll('table')]
    .filter(table => table.closest('.output, .cell_output') && !table.closest('.wsnas-verdict'));
  return [
    ...tables.filter(table => !numbered(table, 'Table')).map(table => 'table: ' + table.innerText.slice(0, 60)),
    ...[...article.querySelectorAll('img')].filter(img => !numbered(img, 'Figure')).map(img => 'figure: ' + img.getAttribute('src')),
  ];
}"""
ASSETS = """() => [...document.querySelectorAll('script[src], link[rel~="stylesheet"][href], link[rel="preload"][href]')]
  .map(node => node.src || node.href)"""
OPEN_DETAILS = """() => document.querySelectorAll('article details').forEach(details => {
  if (!details.querySelector('.cell_input')) details.open = true;
})"""


def chapters_in_toc() -> list[str]:
    toc = yaml.safe_load(Path(os.environ.get("WSNAS_BOOK_TOC", ROOT / "_toc.yml")).read_text())
    return [toc["root"], *(chapter["file"] for chapter in toc.get("chapters", []))]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Chromium is not installed: `make test` installs it (README, 'Quick start'), or `apt-get install chromium`")
    return path


@pytest.fixture(scope="module")
def built_book() -> Path:
    if os.environ.get("WSNAS_BOOK_HTML"):  # check an existing build instead of building
        return Path(os.environ["WSNAS_BOOK_HTML"])
    jupyter_book = shutil.which("jupyter-book") or str(Path(sys.executable).parent / "jupyter-book")
    # -W: a notebook that fails to execute is a Sphinx warning, so warnings must fail the build.
    result = subprocess.run(
        [jupyter_book, "build", str(ROOT / "book"), "--warningiserror", "--keep-going"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    failed = [line for line in result.stdout.splitlines() if "Executing notebook failed" in line]
    assert not failed, "\n".join(failed)
    return HTML


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server(built_book: Path):
    handler = functools.partial(QuietHandler, directory=str(built_book))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def open_page(browser, server: str, chapter: str, requests: list | None = None):
    page = browser.new_page(viewport=VIEWPORT)
    if requests is not None:  # every script and stylesheet the page asks for, by URL
        page.on("request", lambda request: requests.append(request.url)
                if request.resource_type in ("script", "stylesheet") else None)
    response = page.goto(f"{server}/{chapter}.html")
    assert response is not None and response.ok, f"{chapter}.html did not load"
    page.wait_for_load_state("load")
    return page


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("chapter", chapters_in_toc())
def test_page_reads_cleanly(chapter: str, server: str, browser) -> None:
    requests: list[str] = []
    page = open_page(browser, server, chapter, requests)
    body = page.inner_text("body")
    assert "Traceback" not in body, f"{chapter}: a cell printed a traceback"
    errors = page.locator(".output.traceback, .output.error, .cell_output .stderr")
    assert errors.count() == 0, f"{chapter}: {errors.count()} cell outputs are errors"
    assert page.evaluate(VISIBLE_INPUTS) == [], f"{chapter}: code inputs are visible (tag them hide-input)"

    page.evaluate(OPEN_DETAILS)  # collapsed details are checked too
    assert page.evaluate(OVERFLOWING_TABLES) == [], f"{chapter}: tables wider than their container at 1,280 px"
    text = page.evaluate(READER_TEXT)
    assert not NAN.findall(text), f"{chapter}: NaN shown to the reader"
    assert not ABSOLUTE_PATH.findall(text), f"{chapter}: an absolute path leaks: {ABSOLUTE_PATH.findall(text)[:3]}"
    tables = page.locator("article table")
    internal = sorted({name for i in range(tables.count()) for name in INTERNAL.findall(tables.nth(i).inner_text())})
    assert internal == [], f"{chapter}: internal identifiers in tables: {internal[:10]}"

    expected = EXPECTED.get(chapter, {"tables": 0, "figures": 0})
    non_empty = [i for i in range(tables.count()) if tables.nth(i).locator("tbody tr").count() > 0]
    assert len(non_empty) >= expected["tables"], f"{chapter}: {len(non_empty)} non-empty tables"
    images = page.locator("article img")
    widths = [images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0 ? img.getBoundingClientRect().width : -1")
              for i in range(images.count())]
    assert all(width >= 0 for width in widths), f"{chapter}: {widths.count(-1)} images did not load"
    figures = page.locator("article .cell_output img, article figure img")  # shown in a cell or pasted under a caption
    narrow = [round(w) for w in (figures.nth(i).evaluate("img => img.getBoundingClientRect().width")
                                 for i in range(figures.count())) if w < MIN_FIGURE_WIDTH]
    assert figures.count() >= expected["figures"], f"{chapter}: {figures.count()} figures rendered"
    assert narrow == [], f"{chapter}: figures narrower than {MIN_FIGURE_WIDTH} px: {narrow}"
    if chapter not in NOT_CHAPTERS:
        assert page.locator(".wsnas-provenance").count() >= 1, f"{chapter}: no provenance legend"
        titles = page.locator(".admonition-title").all_inner_texts()
        assert "Findings" in titles, f"{chapter}: no Findings box"

    uncaptioned = page.evaluate(UNCAPTIONED)
    assert uncaptioned == [], f"{chapter}: figures or tables without a numbered caption: {uncaptioned[:5]}"
    remote = sorted({url for url in requests + page.evaluate(ASSETS) if not is_local(url)})
    assert remote == [], f"{chapter}: scripts or stylesheets from the network: {remote[:5]}"
    if chapter not in REFERENCE_PAGES:
        linked = linked_pages(page)
        others = linked & (set(chapters_in_toc()) - REFERENCE_PAGES - {chapter})
        assert others, f"{chapter}: links to no other chapter"
        assert "glossary" in linked, f"{chapter}: links to no glossary term"
    page.close()


def is_local(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in ("file", "data", "blob") or parsed.hostname in LOCAL_HOSTS


def linked_pages(page) -> set[str]:
    """The book's pages that links inside the article point to (by name, without .html)."""
    hrefs = page.eval_on_selector_all("article a[href]", "links => links.map(link => link.href)")
    return {Path(urlparse(href).path).stem for href in hrefs if is_local(href) and urlparse(href).path.endswith(".html")}


@pytest.mark.browser
@pytest.mark.slow
def test_every_bibliography_entry_is_cited(server: str, browser) -> None:
    page = open_page(browser, server, "references")
    entries = page.eval_on_selector_all('article [role="doc-biblioentry"]', "nodes => nodes.map(node => node.id)")
    page.close()
    assert len(entries) >= 20, f"the references page lists {len(entries)} entries"
    cited: set[str] = set()
    for chapter in chapters_in_toc():
        page = open_page(browser, server, chapter)
        hrefs = page.eval_on_selector_all("article a[href]", "links => links.map(link => link.href)")
        cited |= {urlparse(href).fragment for href in hrefs if urlparse(href).path.endswith("/references.html")}
        page.close()
    uncited = [page_id for page_id in entries if page_id not in cited]
    assert uncited == [], f"bibliography entries cited nowhere: {uncited}"


@pytest.mark.browser
@pytest.mark.slow
def test_intro_answers_first_and_links_every_claim(server: str, browser) -> None:
    page = open_page(browser, server, "intro")
    titles = page.locator(".admonition-title").all_inner_texts()
    assert titles[:2] == ["The answer", "Run it"] or titles[:3] == ["The answer", "Where the numbers come from", "Run it"]
    assert page.locator(".admonition").first.bounding_box()["y"] < VIEWPORT["height"], "the answer is not on the first screen"
    run_it = page.locator(".admonition", has_text="Run it").inner_text()
    for command in (*quick_start_commands(), "papermill", "smoke", "demo", "paper"):
        assert command in run_it, f"'Run it' lacks {command}"
    legend = page.inner_text(".wsnas-provenance")  # says which of our numbers come from the paper's scale, if any
    assert "small CPU profile" in legend and ("at the paper's protocol" in legend or "at the paper's scale yet" in legend)
    links = page.locator(".wsnas-claims a")
    assert links.count() == 6
    for i in range(links.count()):
        href = links.nth(i).get_attribute("href")
        assert page.request.get(f"{page.url.rsplit('/', 1)[0]}/{href}").ok, f"claims table: {href} is a broken link"
    for verdict in page.locator(".wsnas-claims td:nth-child(3)").all_inner_texts():
        assert verdict.startswith(("robust", "depends on the reading"))
    page.close()


def test_the_quick_start_is_two_commands_and_ci_runs_the_test_one() -> None:
    """Not a browser test: the README promises two commands, and CI runs the README's test command."""
    assert quick_start_commands() == ["make book", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "\nmake test\n" in ci and ci.index("make test") < ci.index("make book")
