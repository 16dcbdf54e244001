PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-pandas22 fuzz mutation bench notebooks clean

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

# Mutation check of the core analyses with mutmut (issue 16); not part of `make test` or
# CI. One module at a time, each against its own tests only, in a copy of the tree under
# build/mutation/<module> (mutmut reads its settings from the setup.cfg written there).
# Property tests run with at most MUTATION_EXAMPLES examples per mutant.
# MUTATION_MODULES=... to choose modules; MUTATION_FUNCTIONS='casework_analytics.stages.x_stage_funnel*'
# to mutate only some functions; MUTATION_CHILDREN workers (the machine has 2 cores);
# MUTATION_TIMEOUT seconds at most per module. The survivors are listed in
# build/mutation/<module>/survivors.txt; `cd build/mutation/<module> && mutmut show NAME`.
MUTATION_MODULES ?= stages closures exits recovery survival
MUTATION_EXAMPLES ?= 3
MUTATION_CHILDREN ?= 2
MUTATION_TIMEOUT ?= 3600
MUTATION_FUNCTIONS ?=
MUTATION_TESTS_stages := tests/test_stages.py
MUTATION_TESTS_closures := tests/test_exits.py
MUTATION_TESTS_exits := tests/test_exits.py
MUTATION_TESTS_recovery := tests/test_recovery.py
MUTATION_TESTS_survival := tests/test_survival.py

mutation: $(addprefix mutation-,$(MUTATION_MODULES))

mutation-%: $(STAMP)
	rm -rf build/mutation/$*
	mkdir -p build/mutation/$*
	cp -r casework_analytics tests data pyproject.toml build/mutation/$*/
	printf '%s\n' '[mutmut]' 'source_paths = casework_analytics/' \
		'only_mutate = casework_analytics/$*.py' \
		'pytest_add_cli_args_test_selection =' $(addprefix '    ,$(addsuffix ',$(MUTATION_TESTS_$*))) \
		'pytest_add_cli_args =' '    -o' '    addopts=' '    -p' '    no:cacheprovider' \
		'also_copy = data/' 'use_git_change_detection = false' > build/mutation/$*/setup.cfg
	cd build/mutation/$* && CASEWORK_MUTATION_EXAMPLES=$(MUTATION_EXAMPLES) \
		timeout $(MUTATION_TIMEOUT) $(abspath $(BIN))/mutmut run \
		--max-children $(MUTATION_CHILDREN) $(MUTATION_FUNCTIONS) > mutmut.log 2>&1 || true
	cd build/mutation/$* && $(abspath $(BIN))/mutmut export-cicd-stats > /dev/null \
		&& $(abspath $(BIN))/mutmut results > survivors.txt \
		&& $(abspath $(BIN))/python -c 'import json; s = json.load(open("mutants/mutmut-cicd-stats.json")); \
		print("casework_analytics/$*.py:", ", ".join(f"{k} {v}" for k, v in s.items() if v))'

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_national.py --cases 1000000
	$(BIN)/python benchmarks/bench_load.py --cases 100000
	$(BIN)/python benchmarks/bench_analyses.py --cases 100000
	$(BIN)/python benchmarks/bench_recovery.py --cases 100000
	$(BIN)/python benchmarks/bench_report.py --cases 10000
	$(BIN)/python benchmarks/bench_publication.py --cases 100000

notebooks: $(STAMP)
	$(BIN)/python notebooks/build.py

clean:
	rm -rf build .pytest_cache
