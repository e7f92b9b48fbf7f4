# The two commands of the README:
#   make demo   set up, then run the model lifecycle on the embedded default catalog
#   make test   set up, then run the whole test suite (PostgreSQL cases skip when none is reachable)
# and besides them:
#   make docs   build the documentation site into site/ with warnings as errors; make docs-serve serves it
#   make test-airflow   the Airflow provider's tests, in an environment of their own (Airflow and Dagster
#               are not installed side by side; see docs/how-to/run-the-lifecycle-in-airflow.md)
# Setup installs the project with every extra and the test tools ('.[dev]' includes '.[all]');
# tests/test_lean_install.py checks the base package alone in a virtualenv of its own.
#   make constraints    re-resolve both environments from pyproject.toml and freeze them into constraints/
# Both setups install with pip's -c constraints/*.txt, so every clone gets the same versions and pip does no
# resolving of its own; CONSTRAINTS= / AIRFLOW_CONSTRAINTS= (empty) install the newest versions allowed instead.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
AIRFLOW_VENV ?= .venv-airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed
CONSTRAINTS ?= constraints/main.txt
AIRFLOW_CONSTRAINTS ?= constraints/airflow.txt
FREEZE_VENV := .venv-constraints

.PHONY: setup setup-airflow constraints demo cli-demo test test-airflow lint docs docs-serve docs-screenshots bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "registry needs Python 3.11 or newer; run make with PYTHON=python3.11 (or newer)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
	@touch $(STAMP)

setup-airflow: $(AIRFLOW_STAMP)

$(AIRFLOW_STAMP): pyproject.toml $(AIRFLOW_CONSTRAINTS)
	@test -x $(AIRFLOW_VENV)/bin/python || $(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet -e '.[airflow-dev]' $(if $(AIRFLOW_CONSTRAINTS),-c $(AIRFLOW_CONSTRAINTS))
	@touch $(AIRFLOW_STAMP)

# Each environment resolved afresh in a scratch virtualenv, then frozen (the project itself left out).
constraints:
	$(MAKE) --no-print-directory freeze EXTRA=dev OUT=constraints/main.txt
	$(MAKE) --no-print-directory freeze EXTRA=airflow-dev OUT=constraints/airflow.txt

freeze:
	rm -rf $(FREEZE_VENV) && $(PYTHON) -m venv $(FREEZE_VENV)
	$(FREEZE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(FREEZE_VENV)/bin/python -m pip install --quiet -e '.[$(EXTRA)]'
	{ echo "# Every package that '.[$(EXTRA)]' installs, resolved and frozen by 'make constraints' (Python" \
	    "$$($(FREEZE_VENV)/bin/python -c 'import platform; print(platform.python_version(), platform.system(), platform.machine())'))."; \
	  $(FREEZE_VENV)/bin/python -m pip freeze --exclude-editable; } > $(OUT)
	rm -rf $(FREEZE_VENV)

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
	$(BIN)/ruff check registry_core registry_lifecycle registry_pipelines registry_airflow tests benchmarks examples compat docs/_tools

# Material for MkDocs prints a notice about MkDocs 2 on every build unless told not to.
MKDOCS := NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs

docs: $(STAMP)
	$(MKDOCS) build --strict

docs-serve: $(STAMP)
	$(MKDOCS) serve --strict --dev-addr 127.0.0.1:8000

# The screenshots in docs/images/ are the browser test's: run it (it saves every step under .browser-shots/),
# then copy the steps the documentation shows. Needs Chromium (apt-get install chromium).
SHOTS ?= .browser-shots
docs-screenshots: $(STAMP)
	REGISTRY_BROWSER_SHOTS=$(abspath $(SHOTS)) $(BIN)/python -m pytest tests/pipelines/test_pipeline_browser.py -q
	$(BIN)/python docs/_tools/screenshots.py $(SHOTS) docs/images

bench: $(STAMP)
	$(BIN)/python benchmarks/catalog_benchmark.py --markdown

clean:
	rm -rf $(VENV) $(AIRFLOW_VENV) $(FREEZE_VENV) .registry .registry-demo site
