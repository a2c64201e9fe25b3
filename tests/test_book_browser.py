"""Build the book and open every chapter in headless Chromium: tables and figures present, no errors."""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "book" / "_build" / "html"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

# What each chapter must show: at least this many non-empty tables and figures.
EXPECTED = {
    "intro": {"tables": 1, "figures": 0},
    "spaces": {"tables": 3, "figures": 3},
    "ranking": {"tables": 2, "figures": 1},
    "variants": {"tables": 2, "figures": 1},
    "ws_search": {"tables": 2, "figures": 2},
    "bias": {"tables": 1, "figures": 4},
    "training": {"tables": 2, "figures": 1},
}


def chapters_in_toc() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"], *(chapter["file"] for chapter in toc.get("chapters", []))]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Chromium is not installed: run `apt-get install chromium` (README, 'Tests')")
    return path


@pytest.fixture(scope="module")
def built_book() -> Path:
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


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("chapter", chapters_in_toc())
def test_chapter_renders(chapter: str, server: str, browser) -> None:
    page = browser.new_page()
    response = page.goto(f"{server}/{chapter}.html")
    assert response is not None and response.ok, f"{chapter}.html did not load"
    body = page.inner_text("body")
    assert "Traceback" not in body, f"{chapter}: a cell printed a traceback"
    errors = page.locator(".output.traceback, .output.error, .cell_output .stderr")
    assert errors.count() == 0, f"{chapter}: {errors.count()} cell outputs are errors"

    expected = EXPECTED.get(chapter, {"tables": 0, "figures": 0})
    tables = page.locator("article table")
    non_empty_tables = [i for i in range(tables.count()) if tables.nth(i).locator("tbody tr").count() > 0]
    assert len(non_empty_tables) >= expected["tables"], f"{chapter}: {len(non_empty_tables)} non-empty tables"

    figures = page.locator("article img")
    loaded = [
        i for i in range(figures.count())
        if figures.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
    ]
    assert len(loaded) >= expected["figures"], f"{chapter}: {len(loaded)} figures rendered"
    page.close()
