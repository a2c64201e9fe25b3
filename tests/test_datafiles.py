"""data/MANIFEST: every embedded file has a row with its sha256 and size, and every row has its file."""

from __future__ import annotations

import multiprocessing

import pytest

from wsnas import datafiles


def test_every_data_file_has_a_manifest_row_and_every_row_a_file():
    root = datafiles.data_dir()
    on_disk = {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file() and path.name != "MANIFEST"
               and not path.name.startswith(".")}
    rows = datafiles.manifest()
    assert on_disk - set(rows) == set(), "files in data/ without a MANIFEST row"
    assert set(rows) - on_disk == set(), "MANIFEST rows whose file is missing"
    for name, row in rows.items():
        assert int(row["bytes"]) == (root / name).stat().st_size, name
        assert row["source"] and row["licence"] and row["made_by"], name


def test_record_in_manifest_keeps_rows_written_by_another_process(tmp_path, monkeypatch):
    monkeypatch.setenv("WSNAS_DATA", str(tmp_path))
    (tmp_path / "MANIFEST").write_text("# comment\nfile\tsha256\tbytes\tsource\tlicence\tmade_by\n")
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("bb")
    datafiles.forget_manifest()
    datafiles.record_in_manifest("a.txt", "here", "MIT", "test")
    assert set(datafiles.manifest()) == {"a.txt"}  # cached in this process now
    with open(tmp_path / "MANIFEST", "a") as handle:  # another process appends a row
        handle.write("c.txt\t0\t0\tthere\tMIT\ttest\n")
    datafiles.record_in_manifest("b.txt", "here", "MIT", "test")
    assert set(datafiles.manifest()) == {"a.txt", "b.txt", "c.txt"}
    assert (tmp_path / "MANIFEST").read_text().startswith("# comment\n")
    assert datafiles.data_path("b.txt").read_text() == "bb"
    datafiles.forget_manifest()


def _record_many(names: list[str]) -> None:
    for name in names:
        datafiles.record_in_manifest(name, "here", "MIT", "test")


def test_processes_recording_at_once_lose_no_row(tmp_path, monkeypatch):
    """Study runs in parallel processes each add MANIFEST rows: the lock keeps every row."""
    monkeypatch.setenv("WSNAS_DATA", str(tmp_path))
    (tmp_path / "MANIFEST").write_text("file\tsha256\tbytes\tsource\tlicence\tmade_by\n")
    batches = [[f"p{process}_{index}.txt" for index in range(15)] for process in range(4)]
    for name in sum(batches, []):
        (tmp_path / name).write_text(name)
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_record_many, args=(names,)) for names in batches]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    datafiles.forget_manifest()
    assert set(datafiles.manifest()) == set(sum(batches, []))


@pytest.fixture(autouse=True)
def _fresh_manifest_cache():
    datafiles.forget_manifest()
    yield
    datafiles.forget_manifest()
