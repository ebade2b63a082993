# skpriv: `make demo` and `make test` set everything up on a machine with only Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
CONSTRAINTS := .ci/constraints-cpu.txt
STAMP := $(VENV)/.skpriv-installed
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.skpriv-installed
PYTEST_ARGS ?=

.PHONY: demo test test-fast test-oldest bench docs lint format clean install

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Torch first, pinned to the CPU wheel these machines carry; then the package.
$(STAMP): $(PY) pyproject.toml $(CONSTRAINTS)
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) torch==2.13.0
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e ".[all,test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	MPLBACKEND=Agg $(PY) examples/quickstart.py

test: $(STAMP)
	MPLBACKEND=Agg $(PY) -m pytest -n 2 --durations=15 $(PYTEST_ARGS)

test-fast: $(STAMP)
	MPLBACKEND=Agg $(PY) -m pytest -n 2 -m "not slow" $(PYTEST_ARGS)

# The oldest supported scikit-learn, in an environment of its own (fast tests).
OLD_VENV := .venv-oldest
OLD_STAMP := $(OLD_VENV)/.skpriv-installed
$(OLD_STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(OLD_VENV)
	$(OLD_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(OLD_VENV)/bin/python -m pip install --quiet -c $(CONSTRAINTS) torch==2.13.0
	$(OLD_VENV)/bin/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[all,test]" "scikit-learn==1.6.1"
	touch $(OLD_STAMP)

test-oldest: $(OLD_STAMP)
	MPLBACKEND=Agg $(OLD_VENV)/bin/python -m pytest -n 2 -m "not slow" -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check skpriv tests benchmarks examples
	$(VENV)/bin/ruff format --check skpriv tests benchmarks examples

format: $(STAMP)
	$(VENV)/bin/ruff check --fix skpriv tests benchmarks examples
	$(VENV)/bin/ruff format skpriv tests benchmarks examples

# Benchmarks run beside their peers; diffprivlib needs scikit-learn < 1.8,
# so they get an environment of their own.
$(BENCH_STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -c $(CONSTRAINTS) torch==2.13.0
	$(BENCH_VENV)/bin/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[torch,federated,bench]" "scikit-learn>=1.6,<1.8" pandas
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	@for script in benchmarks/*.py; do \
		echo "== $$script"; MPLBACKEND=Agg $(BENCH_VENV)/bin/python $$script || exit 1; \
	done

docs: $(STAMP)
	MPLBACKEND=Agg $(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf docs/_build docs/auto_examples docs/generated .pytest_cache
