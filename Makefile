# `make up` runs the whole system; `make test` runs every check. Both create .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

REGISTRY ?= local
TAG ?= latest
API_URL ?= http://127.0.0.1:5000
PYTEST_ARGS ?=

.PHONY: install up test lint typecheck unit unit-fast train serve bench bench-retrain images push smoke clean clean-build

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,boost]'
	touch $@

up: install
	$(BIN)/mlops up

train: install
	$(BIN)/mlops train

serve: install
	$(BIN)/mlops serve

test: lint typecheck unit

lint: install
	$(BIN)/ruff check src tests benchmarks deploy/grafana
	$(BIN)/ruff format --check src tests benchmarks deploy/grafana

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest $(PYTEST_ARGS)

# The in-process tests without PostgreSQL, training or fuzzing: the quick loop while editing
# (make test runs all).
unit-fast: install
	$(BIN)/pytest tests/unit -m 'not postgres and not slow' -n 2 -q $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m benchmarks.serving

# Retraining from production labels: accuracy gained, rollout outcome, drift alert to candidate.
bench-retrain: install
	$(BIN)/python -m benchmarks.retrain_eval

images:
	docker build -f deploy/docker/api.Dockerfile -t $(REGISTRY)/mlops-api:$(TAG) .
	docker build -f deploy/docker/ui.Dockerfile -t $(REGISTRY)/mlops-ui:$(TAG) .

# REGISTRY_USER / REGISTRY_PASSWORD come from Jenkins credentials, never from this repo.
push:
	@echo "$$REGISTRY_PASSWORD" | docker login --username "$$REGISTRY_USER" --password-stdin $(firstword $(subst /, ,$(REGISTRY)))
	docker push $(REGISTRY)/mlops-api:$(TAG)
	docker push $(REGISTRY)/mlops-ui:$(TAG)

smoke: install
	$(BIN)/mlops smoke --url $(API_URL)

clean-build:
	rm -rf build reports

clean:
	rm -rf $(VENV) artifacts data .pytest_cache .mypy_cache .ruff_cache
