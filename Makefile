# Everything the project needs is installed from here: `make demo` and `make test` work on a machine
# that has only Python 3.11+ (and make).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck check bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/connector demo

test: $(STAMP)
	$(BIN)/ruff check connector adapters tests benchmarks
	$(BIN)/ruff format --check --quiet connector adapters tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 --dist worksteal

lint: $(STAMP)
	$(BIN)/ruff check connector adapters tests benchmarks
	$(BIN)/ruff format --check connector adapters tests benchmarks
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_moneybird_sync.py
	$(BIN)/python benchmarks/bench_exact_day.py
	$(BIN)/python benchmarks/bench_eboekhouden_sync.py
	$(BIN)/python benchmarks/bench_planner.py
	$(BIN)/python benchmarks/bench_writeback.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache demo-data
