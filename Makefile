PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench notebooks clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/casework-analytics validate data/sample
	$(BIN)/casework-analytics summary data/sample --as-of 2025-04-15 --by site --out build/summary
	$(BIN)/casework-analytics report data/sample --as-of 2025-04-15 --by site --out build/report.html

test: $(STAMP)
	$(BIN)/ruff check casework_analytics tests benchmarks
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_load.py --cases 100000
	$(BIN)/python benchmarks/bench_analyses.py --cases 100000
	$(BIN)/python benchmarks/bench_recovery.py --cases 100000
	$(BIN)/python benchmarks/bench_report.py --cases 10000

notebooks: $(STAMP)
	$(BIN)/python notebooks/build.py

clean:
	rm -rf build .pytest_cache
