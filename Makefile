# mlpkg — every target is listed by `make help`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PAIR ?= BTC
PAIRS ?= BTC ETH
FAMILY ?= lightgbm
TRIALS ?= 20
PORT ?= 3001
# Three xdist workers on the two cores: the suite's end-to-end tests wait (on servers, replays,
# subprocesses) a quarter of the time, which a third worker fills. Measured on the 2-core
# machine: make test 5 min 38 s with two workers, 4 min 57 s with three (docs/benchmarks.md).
WORKERS ?= 3
export TF_CPP_MIN_LOG_LEVEL ?= 2
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION ?= false
# Bytecode caches on (__pycache__/, ignored by git), also where the environment turns them off
# (PYTHONDONTWRITEBYTECODE=1 on the 2-core machine). Off, every process compiles mlpkg again
# (0.8 s of CPU per server, kernel, CLI or Ray worker) and every pytest process rewrites the
# asserts of every plugin it loads (6.5 s). `make test PYTHONDONTWRITEBYTECODE=1` turns them off.
export PYTHONDONTWRITEBYTECODE :=

.PHONY: help install browser run static lint format test test-fast durations train tune evaluate serve predict lab mlflow-ui bench clean

help: ## List every target with one line each
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m compileall -q mlpkg  # as pip compiles site-packages: no process compiles it later
	$(BIN)/python -m ipykernel install --sys-prefix --name mlpkg --display-name "Python (mlpkg)" >/dev/null
	touch $(STAMP)

install: $(STAMP) browser ## Build .venv with pip from pyproject (pinned), register the Jupyter kernel, get Chromium

browser: ## Install Debian's chromium for the dashboard's browser test when it is missing (root or sudo)
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

run: $(STAMP) ## Quickstart: develop, hold out, decide, register the default pair, then predict (MODELS=all ...)
	$(BIN)/mlpkg train --pair $(PAIR) $(if $(MODELS),--models $(MODELS))
	$(BIN)/mlpkg predict --pair $(PAIR)

static: $(STAMP) ## The gates make test runs first: ruff check + format, mypy --strict, import layers, nb-clean
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/nb-clean check --preserve-cell-metadata-field tags notebooks

lint: static ## static gates + pip-audit: fails on a known vulnerability; offline, says it skipped
	$(BIN)/python scripts/audit.py

format: $(STAMP) ## Apply ruff formatting and autofixes, strip notebook outputs
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	$(BIN)/nb-clean clean --preserve-cell-metadata-field tags notebooks

FUZZ := tests/reliability/test_fuzz_api.py
# Each module goes whole to one worker (its module fixtures are built once), longest first
# (tests/schedule.py orders them by tests/module_seconds.json; `make durations` refreshes it).
# schemathesis' pytest plugin (2 s of CPU to import in each worker) serves only the fuzzing
# module, which make test runs in a process of its own.
XDIST = -n $(WORKERS) --dist loadfile --no-loadscope-reorder -p no:schemathesis
# Several workers on two cores, each with BLAS', OpenMP's and TensorFlow's default pools of two
# threads, oversubscribe the cores: one thread each per test process, as a Ray task gets its
# share (pipelines/cluster.py THREAD_ENV). Measured: 49 s less CPU for the whole suite with
# OpenBLAS alone, 10 % less for the Keras estimator tests with TensorFlow's too.
test test-fast durations: export OPENBLAS_NUM_THREADS ?= 1
test test-fast durations: export OMP_NUM_THREADS ?= 1
test test-fast durations: export TF_NUM_INTRAOP_THREADS ?= 1
test test-fast durations: export TF_NUM_INTEROP_THREADS ?= 1
test: $(STAMP) browser ## Run the static gates and the API fuzzing beside the whole suite on WORKERS xdist workers (.ci/run calls it)
	scripts/test_all.sh $(BIN) $(FUZZ) $(XDIST)

test-fast: $(STAMP) ## Run the tests not marked slow (routes in process, TensorFlow-free; WORKERS=0 for one process)
	$(BIN)/pytest -m "not slow" $(XDIST)

durations: $(STAMP) ## Rerun the suite and write each test module's seconds to tests/module_seconds.json
	$(BIN)/pytest $(XDIST) --ignore=$(FUZZ) --junitxml=.durations.xml -q
	$(BIN)/python scripts/test_durations.py .durations.xml
	rm -f .durations.xml

train: $(STAMP) ## Batch-retrain pairs with papermill notebooks: make train PAIRS="BTC ETH"
	$(BIN)/mlpkg batch --pairs $(PAIRS)

tune: $(STAMP) ## Hyperparameter search on Ray (development folds only): make tune PAIR=BTC FAMILY=lstm TRIALS=40
	$(BIN)/mlpkg tune --pair $(PAIR) --family $(FAMILY) --trials $(TRIALS)

evaluate: $(STAMP) ## Walk-forward evaluation of a pair vs baselines (no registration): make evaluate PAIR=ETH
	$(BIN)/mlpkg evaluate --pair $(PAIR)

predict: $(STAMP) ## Predict the latest candle of a pair with its registered model
	$(BIN)/mlpkg predict --pair $(PAIR)

serve: $(STAMP) ## Serve the HTTP API on :3001 (MLPKG_PORT / PORT=... to change)
	$(BIN)/mlpkg serve --port $(PORT)

lab: $(STAMP) ## Start JupyterLab with the project kernel on loopback
	$(BIN)/jupyter lab --ip 127.0.0.1 --no-browser $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) notebooks

mlflow-ui: $(STAMP) ## Start the MLflow UI on 127.0.0.1:5000 over mlruns/ (one worker)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlruns/mlflow.db \
		--default-artifact-root $(CURDIR)/mlruns/artifacts --host 127.0.0.1 --port 5000 --workers 1

bench: $(STAMP) ## Run the quick benchmarks under bench/ (the hour-long families run is opt-in: BENCH_FAMILIES=1)
	@for script in bench/*/bench_*.py; do \
		case "$$script" in bench/families/*) if [ -z "$(BENCH_FAMILIES)" ]; then \
			echo "== $$script skipped (about 80 min; opt in with make bench BENCH_FAMILIES=1)"; continue; fi;; esac; \
		echo "== $$script"; $(BIN)/python $$script || exit 1; \
	done

clean: ## Remove caches, executed notebooks and build outputs (keeps .venv and mlruns)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis reports build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
