"""The embedded data files: where they live, and their checksums from data/MANIFEST."""

from __future__ import annotations

import csv
import fcntl
import hashlib
import os
import tempfile
from contextlib import contextmanager
from functools import cache
from pathlib import Path

MANIFEST_COLUMNS = ("file", "sha256", "bytes", "source", "licence", "made_by")


class DataFileError(RuntimeError):
    """A data file is missing, truncated or does not match its MANIFEST checksum."""


def project_root(start: str | Path | None = None) -> Path | None:
    """The folder of the book being built, found by walking up from `start` (default: the working directory).

    The nearest folder that holds `book/_toc.yml` (a repository with its book in `book/`), or that
    holds `_toc.yml` itself (the book folder; if it is named `book`, its parent); None outside a book.
    """
    here = Path.cwd() if start is None else Path(start).expanduser().resolve()
    for folder in (here, *here.parents):
        if (folder / "book" / "_toc.yml").is_file():
            return folder
        if (folder / "_toc.yml").is_file():
            return folder.parent if folder.name == "book" else folder
    return None


def data_dir() -> Path:
    """The embedded data directory: $WSNAS_DATA, else `data/` of the book being built (`project_root()`), else
    the `data/` of the source checkout this package is installed from (an editable install used from elsewhere).

    The data are read-only and checked against MANIFEST's sha256, so the package's checkout is a safe last
    resort here (results never go there: see `runs.resolve_root`).
    """
    override = os.environ.get("WSNAS_DATA")
    if override:
        return Path(override).expanduser().resolve()
    tried = []
    for root in (project_root(), SOURCE_CHECKOUT):
        if root is not None:
            if (root / "data" / "MANIFEST").is_file():
                return root / "data"
            tried.append(str(root / "data"))
    raise DataFileError(
        f"no data/ with a MANIFEST found (tried: {', '.join(tried) or 'none'}; no book at or above {Path.cwd()}): "
        "run from inside the wsnas repository, or set WSNAS_DATA to its data/ folder"
    )


SOURCE_CHECKOUT = Path(__file__).resolve().parents[2]  # the repository root when installed with `pip install -e`


def user_cache_dir() -> Path:
    """Where derived files (decoded images, imported NB-101 tables) go: $WSNAS_CACHE or ~/.cache/wsnas."""
    override = os.environ.get("WSNAS_CACHE")
    path = Path(override) if override else Path.home() / ".cache" / "wsnas"
    path.mkdir(parents=True, exist_ok=True)
    return path


def manifest() -> dict[str, dict[str, str]]:
    """The rows of data/MANIFEST keyed by file name (read once per data directory and process)."""
    return _manifest_rows(data_dir() / "MANIFEST")


def forget_manifest() -> None:
    """Make the next `manifest()` read the file again (another process may have written it)."""
    _manifest_rows.cache_clear()


@cache
def _manifest_rows(path: Path) -> dict[str, dict[str, str]]:
    if not path.exists():
        raise DataFileError(f"{path} is missing: the data directory is incomplete (re-clone the repository, "
                            "or set WSNAS_DATA to the data/ folder of a wsnas checkout)")
    with open(path, newline="") as handle:
        rows = [row for row in csv.DictReader(_skip_comments(handle), delimiter="\t")]
    return {row["file"]: row for row in rows}


def _skip_comments(lines):
    return (line for line in lines if not line.startswith("#"))


def sha256_of(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


@cache
def _verified(path: Path, expected_sha256: str, mtime_ns: int, size: int) -> None:
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise DataFileError(
            f"checksum mismatch for {path}: expected sha256 {expected_sha256}, got {actual}. "
            "The file is corrupt or was modified; restore it with `git checkout -- data/` "
            "or regenerate it with the script named in data/MANIFEST."
        )


def data_path(name: str, verify: bool = True) -> Path:
    """Path of an embedded data file, checked against its MANIFEST sha256 (once per process)."""
    rows = manifest()
    if name not in rows:
        raise DataFileError(f"{name!r} has no row in data/MANIFEST; known files: {sorted(rows)}")
    path = data_dir() / name
    if not path.exists():
        raise DataFileError(f"missing dataset {path}: restore it with `git checkout -- data/{name}`")
    if verify:
        stat = path.stat()
        _verified(path, rows[name]["sha256"], stat.st_mtime_ns, stat.st_size)
    return path


class atomic_path:
    """Context manager yielding a temporary path next to `path`, renamed onto it on success."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        os.close(handle)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(name, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        self.temporary = Path(name)
        return self.temporary

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            with open(self.temporary, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(self.temporary, self.path)
        else:
            self.temporary.unlink(missing_ok=True)


def record_in_manifest(name: str, source: str, licence: str, made_by: str) -> None:
    """Add or replace the MANIFEST row of data file `name` (its sha256 and size measured now), atomically."""
    path = data_dir() / name
    row = {"file": name, "sha256": sha256_of(path), "bytes": str(path.stat().st_size),
           "source": source, "licence": licence, "made_by": made_by}
    manifest_path = data_dir() / "MANIFEST"
    with _manifest_lock():  # study runs in parallel processes add rows; a read-modify-write must not interleave
        forget_manifest()  # another process may have added rows since this one last read the file
        rows = {**manifest(), name: row}
        header = [line for line in manifest_path.read_text().splitlines(keepends=True) if line.startswith("#")]
        with atomic_path(manifest_path) as temporary:
            with open(temporary, "w", newline="") as handle:
                handle.writelines(header)
                writer = csv.DictWriter(handle, fieldnames=MANIFEST_COLUMNS, delimiter="\t", lineterminator="\n")
                writer.writeheader()
                writer.writerows(rows.values())
        forget_manifest()


@contextmanager
def _manifest_lock():
    """Hold an exclusive lock on data/.MANIFEST.lock (the MANIFEST itself is replaced, so it cannot carry the lock)."""
    with open(data_dir() / ".MANIFEST.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
