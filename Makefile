# Two entry points a newcomer needs; both start from a bare Python 3.11.
# The CPU build of torch is installed first, pinned: a bare `torch` requirement would pull a multi-GB CUDA build.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0

.PHONY: setup setup-test browser demo lint format test bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

setup: $(BIN)/python
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e .

setup-test: $(BIN)/python
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[test]'

# Trains a VAE on MNIST for a few epochs (about a minute on 2 CPU cores) into runs/demo.
demo: setup
	$(BIN)/genzoo train vae --dataset mnist --epochs 5 --out runs/demo --overwrite

# ruff holds the style (pyproject.toml [tool.ruff]); `make format` applies it.
lint: setup-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# tests/browser drives Debian's chromium through chromium-driver (selenium comes with '.[test]'). Installed with
# apt when they are missing and this runs as root (as CI does); otherwise this says what to install, and the browser
# tests fail saying it too (they never skip).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium and chromium-driver (apt) for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else \
		echo "make browser: chromium and chromium-driver are missing; as root: apt-get install -y chromium chromium-driver" >&2; \
	fi

test: lint browser
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python benchmarks/speed.py
