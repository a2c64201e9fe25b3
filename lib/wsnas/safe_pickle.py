"""A restricted unpickler for data we did not write: builtins and numpy arrays only."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import IO, Any

# The only globals a numpy-array pickle needs; anything else (e.g. torch objects, the authors'
# own classes, os.system) is refused instead of executed.
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("collections", "OrderedDict"),
}


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle refers to a global outside the allowed numpy types."""


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise UnsafePickleError(
            f"refusing to load global {module}.{name}: only numpy arrays and builtins are allowed "
            "in pickles we did not write"
        )


def load(source: Path | str | IO[bytes]) -> Any:
    """Unpickle `source` allowing only builtins and numpy arrays."""
    if isinstance(source, (str, Path)):
        with open(source, "rb") as handle:
            return RestrictedUnpickler(handle, encoding="latin1").load()
    return RestrictedUnpickler(source, encoding="latin1").load()


class Placeholder:
    """Stands for an object of a class we do not import: keeps its qualified name, arguments and state, runs nothing."""

    qualified_name = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.state = args, None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return self.qualified_name


class PlaceholderUnpickler(RestrictedUnpickler):
    """Builtins and numpy arrays as they are; any other global becomes a named `Placeholder` subclass (nothing is
    imported, and no function of the pickle's choosing is called)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
        return type(name, (Placeholder,), {"qualified_name": f"{module}.{name}"})


def load_with_placeholders(source: IO[bytes]) -> Any:
    """Unpickle `source` (e.g. the authors' settings files, which hold torch objects) with `PlaceholderUnpickler`."""
    return PlaceholderUnpickler(source, encoding="latin1").load()
