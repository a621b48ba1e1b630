# rstor: `make book` regenerates every figure and table, `make test` runs the test suite.
# Both create .venv (Python 3.11) and install on first use; re-running installs nothing
# unless pyproject.toml changed (stamp file). pip runs with -qq: errors only, not every index it skips.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= quick
FRESH ?= 0
PYTEST_ARGS ?=

.PHONY: install book test test-fast lab chromium screenshot clean help

help:
	@echo "make book [PROFILE=quick|smoke|paper] [FRESH=1]   run every chapter, build _build/html"
	@echo "make test                                          the test suite (pytest)"
	@echo "make lab                                           JupyterLab with Jupytext pairing"
	@echo "make chromium                                      Debian's chromium for the browser test"

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq --upgrade pip
	$(PY) -m pip install -qq -e '.[dev]'
	@touch $@

book: install
	$(PY) -m rstor_core book --profile $(PROFILE) $(if $(filter 1,$(FRESH)),--fresh)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# Chapters open as notebooks paired with their .py (Jupytext); a save writes both, the .ipynb without outputs.
lab: install
	$(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) \
		--ContentsManager.pre_save_hook=rstor_core.book.lab.strip_outputs book/

chromium:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

clean:
	rm -rf _build outputs/smoke

# The README's picture of the rendered book (needs `make book` and `make chromium` first).
screenshot: install
	$(PY) .ci/screenshot.py book/images/book_screenshot.png
