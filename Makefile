PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-pandas22 fuzz bench notebooks clean

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
	$(BIN)/ruff check casework_analytics tests benchmarks notebooks/build.py
	$(BIN)/python -m pytest
	$(BIN)/python -m pytest --doctest-modules casework_analytics -o addopts="" -q

# The oldest supported pandas (2.2), in its own environment; not part of CI.
test-pandas22:
	test -x .venv-pandas22/bin/python || $(PYTHON) -m venv .venv-pandas22
	.venv-pandas22/bin/python -m pip install --quiet "pandas>=2.2,<2.3" "numpy<2.3" -e ".[dev]"
	.venv-pandas22/bin/python -m pytest tests

# The hostile-input suite with many examples per source format (default 2000;
# FUZZ_EXAMPLES=... to change); `make test` runs it with a few.
FUZZ_EXAMPLES ?= 2000
fuzz: $(STAMP)
	CASEWORK_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/test_hostile_loading.py -q \
		--hypothesis-show-statistics

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_national.py --cases 1000000
	$(BIN)/python benchmarks/bench_load.py --cases 100000
	$(BIN)/python benchmarks/bench_analyses.py --cases 100000
	$(BIN)/python benchmarks/bench_recovery.py --cases 100000
	$(BIN)/python benchmarks/bench_report.py --cases 10000

notebooks: $(STAMP)
	$(BIN)/python notebooks/build.py

clean:
	rm -rf build .pytest_cache
