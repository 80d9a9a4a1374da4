# minewatch — run `make help` for the list of targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.stamp-install
SHARED ?= ../shared
BENCH_OUT ?= bench/out
PYTEST_ARGS ?=
DEMO_DB = sqlite:///$(CURDIR)/demo.db

.DEFAULT_GOAL := help

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,postgres]'
	$(PY) -m pipelines.warmup  # compile the scan kernels now, not in the first scan
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install minewatch with its dev tools
	@$(PY) -c "import pipelines.scan" && echo "minewatch installed in $(VENV)"

demo: $(STAMP) ## Install, then scan the bundled samples and print the hits
	@rm -f demo.db  # a fresh demo database each time (scans also teach the learned list)
	@$(VENV)/bin/minewatch subscribers import-registry --db $(DEMO_DB) samples/subscribers/registry.csv
	@$(VENV)/bin/minewatch subscribers import-sessions --db $(DEMO_DB) samples/subscribers/sessions.csv
	$(VENV)/bin/minewatch scan --db $(DEMO_DB) --blocklist samples/blocklist.txt samples/
	@echo
	@echo "Stored hits (minewatch hits --db $(DEMO_DB)):"
	@$(VENV)/bin/minewatch hits --db $(DEMO_DB) --format table | head -5
	@echo
	@echo "Cases per subscriber and pool (minewatch cases list --db $(DEMO_DB)):"
	@$(VENV)/bin/minewatch cases list --db $(DEMO_DB) --limit 12

test: $(STAMP) ## Install, then run the whole test suite
	$(PY) -m pytest -q --durations=15 $(PYTEST_ARGS)

lint: $(STAMP) ## ruff + mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP) ## Apply ruff formatting and safe fixes
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

samples: $(STAMP) ## Regenerate samples/ captures with scapy (then UPDATE_GOLDEN=1 make test)
	$(PY) samples/make_samples.py samples

BENCH_DEBS := libndpi-bin tshark time nfdump tcpreplay wrk nginx-light

bench: $(STAMP) ## Benchmarks against peers: scan vs ndpiReader/tshark, collect vs nfcapd, decoders, capture, API vs nginx/psycopg
	@missing=$$(for p in $(BENCH_DEBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "bench: installing $$missing"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || \
	  echo "bench: could not install $$missing; those peers are skipped"; fi
	$(PY) bench/run.py --shared $(SHARED) --out $(BENCH_OUT)

clean: ## Remove the virtualenv, caches and demo database
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis demo.db $(BENCH_OUT)

.PHONY: help install demo test lint format samples bench clean
