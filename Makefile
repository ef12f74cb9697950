# Player-engagement MLOps — one entry point. `make` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
LOCAL := .local
APP := $(LOCAL)/venv-app
SERVICES := $(LOCAL)/venv-services
APP_STAMP := $(APP)/.installed
PATCH_STAMP := $(APP)/.patched
SERVICES_STAMP := $(SERVICES)/.installed
CHECKOV := $(LOCAL)/venv-checkov
CHECKOV_STAMP := $(CHECKOV)/.installed
MCP := $(LOCAL)/venv-mcp
MCP_STAMP := $(MCP)/.installed
STACK_ENV := $(LOCAL)/stack/stack.env
RUN := set -a && . $(STACK_ENV) && set +a &&
# One line per phase of each venv install, with the measured time to expect (pip's output goes to a log).
INSTALL := $(PYTHON) scripts/install_venv.py

.PHONY: help setup up down status demo mcp test test-unit test-faults lint format bench-train bench-batch bench-drift bench-online bench-serve bench-rollout bench-loop bench-scale bench-onnx triggers-clean lock clean distclean deploy-check destroy

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: $(APP_STAMP) $(PATCH_STAMP) $(SERVICES_STAMP) $(MCP_STAMP) ## create the venvs (app, services, mcp) from the lock files (idempotent)

$(APP_STAMP): requirements/app.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "error: Python 3.11 is required (set PYTHON=...)")'
	@$(INSTALL) --venv $(APP) --lock requirements/app.lock --label app --expect "about 3-4 min" --log $(LOCAL)/install-app.log
	@$(APP)/bin/python -m pip install -q --no-deps -e . > $(LOCAL)/editable-install.log 2>&1 \
		|| { cat $(LOCAL)/editable-install.log; exit 1; }
	@$(APP)/bin/python scripts/patch_mage.py
	@$(APP)/bin/python -m pip check
	@touch $@

$(PATCH_STAMP): $(APP_STAMP) scripts/patch_mage.py $(wildcard patches/*.patch)
	@$(APP)/bin/python scripts/patch_mage.py
	@touch $@

$(SERVICES_STAMP): requirements/services.lock
	@$(INSTALL) --venv $(SERVICES) --lock requirements/services.lock --label services --expect "about 2 min" --log $(LOCAL)/install-services.log
	@touch $@

up: setup ## start S3 (8333), MLflow (5000), Evidently UI (8001), Mage (6789), serving (8080) and operator (8090) APIs on 127.0.0.1
	@$(PYTHON) scripts/stack.py up

down: ## stop every local server (by process group); strips Mage's runtime state from triggers.yaml
	@$(PYTHON) scripts/stack.py down

status: ## show which servers run, and the models in MLflow
	@$(PYTHON) scripts/stack.py status
	@$(RUN) $(APP)/bin/mlops status || true

demo: up ## the whole lifecycle through Mage: train, promote, score, then 7 simulated days with drift and retraining
	@$(RUN) bash scripts/demo.sh

test: setup ## unit, integration (live local servers) and end-to-end (mage run) tests
	@$(APP)/bin/python -m pytest tests -q --durations=25

test-unit: setup ## unit tests only (no servers)
	@$(APP)/bin/python -m pytest tests/unit -q

test-faults: setup ## the fault tier alone: kills S3 and MLflow of a stack of its own mid-run (a few minutes)
	@$(APP)/bin/python -m pytest tests/faults -q -m faults

lint: setup $(CHECKOV_STAMP) ## ruff (lint + format check), mypy, and the offline checks of terraform/ and docker/
	@$(APP)/bin/ruff check .
	@$(APP)/bin/ruff format --check .
	@$(APP)/bin/mypy
	@$(CHECKOV)/bin/python scripts/validate_deploy.py

# The mcp SDK needs pydantic >= 2.12 (Mage pins 2.9): the MCP server of the operator API gets a venv of its own.
$(MCP_STAMP): requirements/mcp.lock
	@$(INSTALL) --venv $(MCP) --lock requirements/mcp.lock --label mcp --expect "about 30 s" --log $(LOCAL)/install-mcp.log --check
	@touch $@

mcp: $(MCP_STAMP) ## run the MCP server over stdio for the stack's operator API (OPERATOR_TOKEN: a role's token)
	@$(RUN) OPERATOR_TOKEN=$${OPERATOR_TOKEN:-$$OPERATOR_VIEWER_TOKEN} PYTHONPATH=. $(MCP)/bin/python -m mcp_server

# checkov pins boto3 and friends that conflict with the app venv: it gets a small venv of its own (~1 min).
$(CHECKOV_STAMP): requirements/checkov.lock
	@$(INSTALL) --venv $(CHECKOV) --lock requirements/checkov.lock --label checkov --expect "about 1 min" --log $(LOCAL)/install-checkov.log
	@touch $@

deploy-check: $(CHECKOV_STAMP) ## offline checks of terraform/ and docker/: fmt (if installed), HCL parse, checkov
	@$(CHECKOV)/bin/python scripts/validate_deploy.py

destroy: ## terraform destroy of one AWS environment: make destroy ENV=dev (asks before deleting)
	@test -n "$(ENV)" || { echo "usage: make destroy ENV=dev|staging|prod"; exit 1; }
	@command -v terraform >/dev/null || { echo "error: terraform (>= 1.11) is not installed"; exit 1; }
	cd terraform && terraform init -reconfigure -backend-config=env/$(ENV).backend.hcl \
		&& terraform destroy -var-file=env/$(ENV).tfvars

format: setup ## apply ruff's fixes and formatting
	@$(APP)/bin/ruff check --fix .
	@$(APP)/bin/ruff format .

bench-train: setup ## print held-out accuracy, macro-F1 and fit time on the full dataset
	@$(APP)/bin/python bench/bench_train.py

bench-batch: setup ## pure prediction beside tl2cgen (1M/10M rows), 1M CSV / 10M Parquet end to end, peak memory (BEFORE=rev: also at rev)
	@$(APP)/bin/python bench/bench_batch.py $(if $(BEFORE),--before $(BEFORE))

bench-scale: setup ## rows/s and peak memory per worker: local vs Dask (1 and 2 workers), 1M/10M/50M rows (~10 min; SIZES=1000000,10000000 for fewer)
	@$(APP)/bin/python bench/bench_scale.py $(if $(SIZES),--sizes $(SIZES))

bench-serve: setup ## serving beside MLflow's scoring server, 1-10,000 players per request, and at 200 req/s (BEFORE=main adds that revision)
	@if [ -f $(STACK_ENV) ]; then set -a && . $(STACK_ENV) && set +a; fi; \
		$(APP)/bin/python bench/bench_serve.py $(if $(BEFORE),--before $(BEFORE))

bench-rollout: setup ## the canary split's share of 10,000 players and the rollout's cost per one-player request
	@$(APP)/bin/python bench/bench_rollout.py

bench-onnx: setup ## the ONNX export vs predict_proba on the full dataset (max abs diff), its size and single-row latency
	@$(APP)/bin/python bench/bench_onnx.py

bench-drift: setup ## time the nightly drift tests: 40k reference vs 10k current rows, with and without drift
	@$(APP)/bin/python bench/bench_drift.py

bench-loop: setup ## the closed loop over 28 simulated days per drift scenario through Mage (its own stack; ~30-60 min)
	@$(APP)/bin/python bench/bench_loop.py

bench-online: setup ## latency of one online request through Mage (API trigger and /api/runs); needs `make demo`
	@$(RUN) $(APP)/bin/python bench/bench_online_mage.py

triggers-clean: ## strip Mage's runtime state (last_enabled_at) from triggers.yaml before committing
	@$(PYTHON) scripts/stack.py strip-triggers

lock: ## re-resolve requirements/*.in into fresh lock files (needs the registries)
	@bash scripts/lock.sh

clean: down ## stop servers and delete local stack data (keeps the venvs)
	rm -rf $(LOCAL)/stack

distclean: clean ## also delete the venvs
	rm -rf $(LOCAL)
