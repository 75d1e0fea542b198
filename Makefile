# feedguard: the documented entry points. `make dev` and `make test` bootstrap
# everything they need into .venv (and .venv-sam for the SAM CLI).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
PY := $(VENV)/bin/python
SAM := SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 $(SAM_VENV)/bin/sam
export PYTHONPATH := $(CURDIR)/functions:$(CURDIR)
# Unit tests and tools must never reach a real AWS account.
export AWS_ACCESS_KEY_ID ?= testing
export AWS_SECRET_ACCESS_KEY ?= testing
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: help openapi dev test pytest lint format typecheck validate iac-scan build unit integration bench soak lock clean deploy-console rotate-admin-key console

help:
	@echo "make dev        the whole stack and the console locally (no Docker, no AWS account)"
	@echo "make test       every check: lint, types, template, IaC scan, sam build, unit and integration tests, console"
	@echo "make bench      benchmarks, with their baselines"
	@echo "make soak       50 clients for 2 minutes on the local stack, then an audit of every write"
	@echo "make build      sam build"
	@echo "make format     ruff format + fixes"
	@echo "make rotate-admin-key  a new admin key for the deployed stack, printed once"

$(VENV)/.installed: requirements-dev.txt functions/requirements.txt constraints.txt cli/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	$(PY) -m pip install --quiet -e ./cli -c constraints.txt
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet -r requirements-sam.txt
	touch $@

dev: $(VENV)/.installed console/dist/index.html
	$(PY) -m infra.dev

# The console (console/): npm ci from the lockfile when node_modules is older
# than it; a build when any input is newer than the one in console/dist.
CONSOLE_INPUTS := $(shell find console/src -type f 2>/dev/null) \
	$(wildcard console/index.html console/package-lock.json console/vite.config.ts docs/openapi.json)

console/node_modules: console/package-lock.json
	npm --prefix console ci
	touch $@

console/dist/index.html: $(CONSOLE_INPUTS) | console/node_modules
	npm --prefix console run build || { rm -f $@; exit 1; }

# Playwright drives Debian's Chromium; it downloads no browser of its own.
CHROMIUM := $(if $(PLAYWRIGHT_CHROMIUM),,/usr/bin/chromium)
/usr/bin/chromium:
	@if [ "$$(id -u)" != 0 ]; then \
	  echo "The console's browser tests need Debian's chromium at /usr/bin/chromium:" \
	    "run 'sudo apt-get update && sudo apt-get install -y chromium' (or set PLAYWRIGHT_CHROMIUM)." >&2; \
	  exit 1; \
	fi
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

# The console's checks: types and the bundle budget (the build), the component
# tests, then the browser walks against the local stack.
console: $(VENV)/.installed $(CHROMIUM) | console/node_modules
	npm --prefix console run build
	npm --prefix console test
	npm --prefix console run e2e

test: lint typecheck validate iac-scan build pytest console

pytest: $(VENV)/.installed
	$(PY) -m pytest -n 2 --durations=15 tests

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy functions infra bench
	MYPYPATH=cli/src $(VENV)/bin/mypy --python-version 3.10 cli/src

validate: $(VENV)/.installed $(SAM_VENV)/.installed
	$(VENV)/bin/cfn-lint template.yaml
	$(SAM) validate --lint

# checkov, the IaC scanner, pins its own dependencies: a virtualenv of its own.
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $@

# Every check passes or is skipped in .checkov.yaml with its reason.
iac-scan: $(CHECKOV_VENV)/.installed
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml

build: $(SAM_VENV)/.installed
	$(SAM) build

# After sam deploy: builds console/ and uploads it to the stack's bucket
# (infra/deploy_console.py), with your own AWS credentials, not the placeholders above.
deploy-console: $(VENV)/.installed
	$(if $(filter file,$(origin AWS_ACCESS_KEY_ID)),env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY) $(PY) -m infra.deploy_console

# A new random admin key in the deployed stack's secret, printed once
# (infra/rotate_admin_key.py), with your own AWS credentials.
rotate-admin-key: $(VENV)/.installed
	$(if $(filter file,$(origin AWS_ACCESS_KEY_ID)),env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY) $(PY) -m infra.rotate_admin_key

unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit

integration: $(VENV)/.installed
	$(PY) -m pytest tests/integration

# The committed OpenAPI document the console's types are generated from.
openapi: $(VENV)/.installed
	$(PY) -m infra.openapi

bench: $(VENV)/.installed
	$(PY) -m bench

# Not part of make test (it runs for minutes); figures in docs/reliability.md.
soak: $(VENV)/.installed
	$(PY) -m bench.soak

# Re-pin every transitive dependency after changing a requirements file.
lock:
	rm -rf /tmp/feedguard-lock && $(PYTHON) -m venv /tmp/feedguard-lock
	/tmp/feedguard-lock/bin/pip install --quiet -r requirements-dev.txt
	(echo "# Every transitive version make test and make dev install, from pip freeze."; echo "# Update: make lock"; \
	  /tmp/feedguard-lock/bin/pip freeze) > constraints.txt

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
