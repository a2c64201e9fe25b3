"""Where things are found: the book being built, its results/ and data/, the training chapter.

Each is found from the working directory (or an environment variable): a fresh clone built with a
package installed from another checkout uses its own folders. Results never go where the package is
installed; the read-only data fall back to the installed checkout's only outside any book.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from wsnas import datafiles, runs, sweep

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def clone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A book laid out as this repository (book/_toc.yml, book/training.ipynb), without any variable set."""
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    (tmp_path / "book" / sweep.CHAPTER).write_text("{}")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "MANIFEST").write_text("file\tsha256\tbytes\tsource\tlicence\tmade_by\n")
    for name in ("WSNAS_RESULTS", "WSNAS_DATA"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_the_repository_is_found_from_its_root_and_from_inside_the_book(monkeypatch):
    assert datafiles.project_root(REPO) == REPO
    assert datafiles.project_root(REPO / "book") == REPO
    assert datafiles.project_root(REPO / "lib" / "wsnas") == REPO


def test_a_fresh_clone_uses_its_own_results_data_and_chapter(clone, monkeypatch):
    monkeypatch.chdir(clone / "book")  # where jupyter-book runs a chapter
    assert runs.resolve_root() == clone / "results"
    assert datafiles.data_dir() == clone / "data"
    assert sweep.book_dir() == clone / "book"
    assert REPO not in runs.resolve_root().parents


def test_a_book_folder_of_its_own_keeps_results_beside_it(tmp_path, monkeypatch):
    monkeypatch.delenv("WSNAS_RESULTS", raising=False)
    (tmp_path / "thesis").mkdir()
    (tmp_path / "thesis" / "_toc.yml").write_text("root: intro\n")
    monkeypatch.chdir(tmp_path / "thesis")
    assert runs.resolve_root() == tmp_path / "thesis" / "results"


def test_the_variables_win_and_an_explicit_root_wins_over_them(clone, monkeypatch, tmp_path):
    monkeypatch.chdir(clone)
    monkeypatch.setenv("WSNAS_RESULTS", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("WSNAS_DATA", str(REPO / "data"))
    assert runs.resolve_root() == tmp_path / "elsewhere"
    assert runs.resolve_root("mine") == clone / "mine"
    assert datafiles.data_dir() == REPO / "data"


def test_outside_a_book_results_go_to_the_working_directory_and_data_to_the_installed_checkout(tmp_path, monkeypatch):
    for name in ("WSNAS_RESULTS", "WSNAS_DATA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    assert runs.resolve_root() == tmp_path / "results"
    # a researcher's own project: the read-only, checksummed data come from the checkout wsnas is installed from
    assert datafiles.data_dir() == datafiles.SOURCE_CHECKOUT / "data"
    monkeypatch.setattr(datafiles, "SOURCE_CHECKOUT", tmp_path / "site-packages")
    with pytest.raises(datafiles.DataFileError, match=f"{tmp_path}.*WSNAS_DATA"):
        datafiles.data_dir()
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "book")):
        sweep.book_dir()


def test_a_run_directory_is_the_same_for_the_sweep_and_open_run(tmp_path):
    spec = sweep.RunSpec("A4", "baseline", 3)
    params = {"space": "A4", "variant": "baseline", "seed": 3, "profile": "smoke"}
    opened = runs.open_run("training", params, overrides={"epochs": 1}, root=tmp_path)
    assert sweep.spec_directory(spec, "smoke", tmp_path, {"epochs": 1}) == opened
    assert opened.parent == tmp_path / "training"
