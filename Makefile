# Two commands matter: `make demo` (set up, then a real search on MNIST-5k) and `make test`.
# Both build .venv from nothing; torch is pinned by constraints.txt to the CPU build on disk.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install -q -c constraints.txt

.PHONY: demo test test-bounds lint bench bench-quick clean

# Debian's Fashion-MNIST (README commands and augmentation tests read it); installed once.
FASHION := /usr/share/datasets/fashion-mnist
$(FASHION):
	apt-get install -y -q dataset-fashion-mnist || \
	  (apt-get update -q && apt-get install -y -q dataset-fashion-mnist)

# Debian's Chromium: the browser tests (tests/browser, Playwright) drive it; never `playwright
# install`, which would download a browser.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get install -y -q chromium || (apt-get update -q && apt-get install -y -q chromium)

$(VENV)/.core: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e ".[report]"  # matplotlib: `nasbeyond report runs/demo` draws its charts
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

# The suite in parallel (pytest-xdist, one process per core); tests marked `serial` (they
# measure or kill processes and want the machine to themselves) run alone afterwards.
test: lint $(FASHION) $(CHROMIUM)
	$(BIN)/pytest -n auto -m "not serial"
	$(BIN)/pytest -m serial

# The suite against the lowest versions pyproject.toml declares (torch stays the pinned CPU build).
BOUNDS := numpy==1.24.4 pillow==10.0.1 scikit-learn==1.3.2 pyyaml==6.0.1 mlxtend==0.23.0
test-bounds: $(FASHION) $(CHROMIUM)
	$(PYTHON) -m venv .venv-bounds
	.venv-bounds/bin/python -m pip install -q -c constraints.txt torch==2.13.0 $(BOUNDS)
	.venv-bounds/bin/python -m pip install -q -c constraints.txt -e '.[dev]' $(BOUNDS)
	.venv-bounds/bin/pytest -n auto -m "not serial"
	.venv-bounds/bin/pytest -m serial

BENCHES := overhead trainer nb201 pareto_nb201 scale latency_predictor augment_speed augment_accuracy tabular weight_sharing_nb201 dashboard

$(VENV)/.bench: $(VENV)/.dev
	$(PIP) -e '.[dev,bench]'
	touch $@

bench: $(VENV)/.bench
	for b in $(BENCHES); do $(BIN)/python bench/$$b.py || exit 1; done

bench-quick: $(VENV)/.bench
	for b in $(BENCHES); do $(BIN)/python bench/$$b.py --quick || exit 1; done

clean:
	rm -rf $(VENV) .venv-bounds runs *.egg-info
