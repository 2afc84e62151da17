# tradeops — every target installs what it needs on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export UV_COMPILE_BYTECODE := 1
export AWS_ACCOUNT_ID_ENDPOINT_MODE := disabled
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export AWS_DEFAULT_REGION ?= us-east-1

PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := $(PYTHON) -m uv
endif
VENV := .venv
RUN := $(UV) run --frozen --no-sync
PYTEST := $(RUN) pytest
CDK_CLI := aws-cdk@2.1148.x
TEST_DIRS := $(wildcard tests/unit tests/integration tests/infra tests/drills tests/e2e)
FRONTEND := frontend
NPM_INSTALLED := $(FRONTEND)/node_modules/.installed
CHROMIUM := /usr/bin/chromium

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

.PHONY: uv
uv:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv

$(VENV)/.synced: pyproject.toml uv.lock | uv
	$(UV) sync --frozen
	@touch $@

.PHONY: install
install: $(VENV)/.synced ## create .venv with every dependency group but ml

$(NPM_INSTALLED): $(FRONTEND)/package-lock.json
	cd $(FRONTEND) && npm ci --no-audit --no-fund
	@touch $@

.PHONY: frontend
frontend: $(NPM_INSTALLED) ## build the operator UI into frontend/dist (typecheck included)
	cd $(FRONTEND) && npm run build

.PHONY: browser
browser: ## install Debian's chromium for the browser tests when it is missing
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		echo "installing Debian's chromium"; \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium \
			|| { echo "make browser: could not install chromium (apt-get failed)" >&2; exit 1; }; \
	fi
	@test -x $(CHROMIUM) || { echo "make browser: $(CHROMIUM) is still missing" >&2; exit 1; }

.PHONY: up
up: install frontend ## start the whole platform embedded (moto, simulator, gateway, functions, API, UI)
	$(RUN) tradeops up

.PHONY: lint
lint: install $(NPM_INSTALLED) ## ruff + mypy on src/, tsc on the frontend
	cd $(FRONTEND) && npm run typecheck
	$(RUN) ruff check src tests infra functions
	$(RUN) ruff format --check src tests infra functions
	$(RUN) mypy

.PHONY: test
test: install lint frontend browser ## lint, unit, integration, infra, drill and browser tests
	$(PYTEST) -n 2 --dist loadgroup --durations=25 $(TEST_DIRS)

.PHONY: bench
bench: install ## benchmarks: ratios against baselines measured in the same run
	$(PYTEST) tests/bench -m bench -s -p no:xdist -p no:randomly

.PHONY: synth
synth: install ## synthesize every CDK stack into cdk.out/
	$(RUN) python infra/app.py

.PHONY: deploy
deploy: install ## deploy to the AWS account in your environment (needs credentials)
	npx --yes $(CDK_CLI) deploy --all --app "$(VENV)/bin/python infra/app.py"

.PHONY: clean
clean:
	rm -rf cdk.out .tradeops .pytest_cache .mypy_cache .ruff_cache $(FRONTEND)/dist tests/e2e/artifacts
