# Two commands matter: `make demo` (set up, then a real search on MNIST-5k) and `make test`.
# Both build .venv from nothing; torch is pinned by constraints.txt to the CPU build on disk.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install -q -c constraints.txt

.PHONY: demo test lint bench bench-quick clean

$(VENV)/.core: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e .
	touch $@

$(VENV)/.dev: $(VENV)/.core
	$(PIP) -e '.[dev]'
	touch $@

demo: $(VENV)/.core
	rm -rf runs/demo
	$(BIN)/nasbeyond search --space macro-cnn --space-arg max_layers=4 \
	  --strategy evolution --strategy-arg population_size=8 --strategy-arg sample_size=3 \
	  --dataset mnist5k --trials 20 --workers 2 --epochs 2 --final-epochs 6 --seed 0 \
	  --run-dir runs/demo

lint: $(VENV)/.dev
	$(BIN)/ruff check nasbeyond tests bench examples
	$(BIN)/ruff format --check nasbeyond tests bench examples
	$(BIN)/mypy nasbeyond
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

BENCHES := overhead trainer nb201 pareto_nb201 scale latency_predictor augment_speed augment_accuracy

$(VENV)/.bench: $(VENV)/.dev
	$(PIP) -e '.[dev,bench]'
	touch $@

bench: $(VENV)/.bench
	for b in $(BENCHES); do $(BIN)/python bench/$$b.py || exit 1; done

bench-quick: $(VENV)/.bench
	for b in $(BENCHES); do $(BIN)/python bench/$$b.py --quick || exit 1; done

clean:
	rm -rf $(VENV) runs *.egg-info
