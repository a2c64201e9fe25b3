# Two commands do everything on a fresh machine (README, "Quick start"); each sets up what it needs first:
#   make book   build the book with the demo profile, offline, on the CPU -> book/_build/html/index.html
#   make test   lint, then run every test (the headless-browser test of the built book included)
# Set-up: a virtual environment in .venv, torch (its CPU build where no NVIDIA GPU is found), the project with
# its extras, and, for the tests, Debian's Chromium. `.ci/run` calls `make test`, then `make book`.

PYTHON ?= python3
VENV ?= .venv
# torch's version: the pin in pyproject.toml
TORCH_VERSION := $(shell sed -n 's/^ *"torch==\([0-9.]*\)".*/\1/p' pyproject.toml)
CPU_TORCH_INDEX := https://download.pytorch.org/whl/cpu

BOOK_FLAGS ?=
BIN := $(abspath $(VENV))/bin
# The venv's commands first on PATH: the tests call `wsnas`, and notebook kernels start the venv's `python`.
RUN := PATH="$(BIN):$$PATH"
# PyTorch's CPU index only where there is no NVIDIA GPU and the index answers (an offline mirror serves the pin)
REACHABLE = $(shell $(PYTHON) -c "import urllib.request as u; u.urlopen('$(CPU_TORCH_INDEX)', timeout=5)" 2>/dev/null && echo yes)
TORCH_SOURCE = $(if $(shell command -v nvidia-smi),,$(if $(REACHABLE),--extra-index-url $(CPU_TORCH_INDEX)))

.PHONY: book test setup browser

# The notebook cache keys on the notebooks' code only, so a change to the library, a profile or the data would
# leave cached numbers stale: the fingerprint of those inputs is kept beside the cache, which is cleared when it moved.
INPUTS_KEY = book/_build/.inputs_sha256
inputs_sha256 = $(shell cat data/MANIFEST $$(find lib -name '*.py' -o -name '*.toml' | sort) | sha256sum | cut -c1-64)

book: setup
	@if [ -f $(INPUTS_KEY) ] && [ "$$(cat $(INPUTS_KEY))" != "$(inputs_sha256)" ]; then \
	  echo "lib/ or data/ changed since the last build: every chapter runs again"; rm -rf book/_build/.jupyter_cache; fi
	$(RUN) jupyter-book build book/ $(BOOK_FLAGS)
	@echo $(inputs_sha256) > $(INPUTS_KEY)

test: setup browser
	$(RUN) ruff check lib tests benchmarks scripts
	$(RUN) python -m pytest

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install "torch==$(TORCH_VERSION)" $(TORCH_SOURCE)
	$(BIN)/pip install -e ".[test,cluster]"
	touch $@

browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y chromium || { $$SUDO apt-get update && $$SUDO apt-get install -y chromium; }; }
