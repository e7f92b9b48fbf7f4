# The two commands of the README:
#   make demo   set up, then run the model lifecycle on the embedded default catalog
#   make test   set up, then run the whole test suite (PostgreSQL cases skip when none is reachable)
#   make test-airflow   the Airflow provider's tests, in an environment of their own (Airflow and Dagster
#               are not installed side by side; see the README, "The lifecycle in Airflow")
# Setup installs the project with every extra and the test tools ('.[dev]' includes '.[all]');
# tests/test_lean_install.py checks the base package alone in a virtualenv of its own.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
AIRFLOW_VENV ?= .venv-airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed

.PHONY: setup setup-airflow demo cli-demo test test-airflow lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "registry needs Python 3.11 or newer; run make with PYTHON=python3.11 (or newer)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup-airflow: $(AIRFLOW_STAMP)

$(AIRFLOW_STAMP): pyproject.toml
	@test -x $(AIRFLOW_VENV)/bin/python || $(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet -e '.[airflow]' 'pytest>=8' 'pytest-timeout>=2.3' 'pytest-xdist>=3.6'
	@touch $(AIRFLOW_STAMP)

demo: $(STAMP)
	$(BIN)/python -m registry_pipelines.demo

cli-demo: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" bash examples/lifecycle_demo.sh

test: $(STAMP)
	$(BIN)/python -m pytest

# REGISTRY_REQUIRE_AIRFLOW=1: here a missing Airflow fails these tests instead of skipping them.
# -n 0: in one process; every worker would run `airflow db migrate` for a metadata database of its own.
test-airflow: $(AIRFLOW_STAMP)
	REGISTRY_REQUIRE_AIRFLOW=1 $(AIRFLOW_VENV)/bin/python -m pytest -n 0 tests/airflow_provider

lint: $(STAMP)
	$(BIN)/ruff check registry_core registry_lifecycle registry_pipelines registry_airflow tests benchmarks examples

bench: $(STAMP)
	$(BIN)/python benchmarks/catalog_benchmark.py --markdown

clean:
	rm -rf $(VENV) $(AIRFLOW_VENV) .registry .registry-demo
