# Two commands matter: `make demo` (a box in a container, ready for pip) and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

VENV ?= .venv
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/collections
# Every directory under molecule/ with a molecule.yml is a scenario; `make molecule SCENARIOS=x`
# runs a subset, on the releases each covers (scripts/run-molecule.sh says which and why).
SCENARIOS ?= $(sort $(patsubst molecule/%/molecule.yml,%,$(wildcard molecule/*/molecule.yml)))
# The Debian release of `make image` and `make demo`: what Raspberry Pi OS is built on today.
RELEASE ?= trixie

.PHONY: venv image wheels lint unit molecule radio test demo demo-destroy bench bench-quick clean

$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

image:
	@scripts/build-base-image.sh $(RELEASE)

# Real wheels fetched once from PyPI; every test after that is hermetic. (The seed wheels for
# each release's Python are fetched by scripts/run-molecule.sh, which knows that Python.)
wheels: venv
	$(BIN)/python tests/support/fetch_fixtures.py

lint: venv
	yamllint --strict .
	ruff check .
	ansible-lint
	scripts/sanity.sh

unit: venv wheels
	pytest tests

# The Wi-Fi test: the roles' hostapd and dnsmasq configs on simulated radios in a qemu VM.
radio: venv
	pytest tests/radio

molecule: venv wheels
	scripts/run-molecule.sh $(SCENARIOS)

# lint, unit, molecule in that order, stopping at the first that fails, with a time per stage.
test: venv
	@scripts/timed-stages.sh lint unit molecule

demo: venv
	PIAB_RELEASE=$(RELEASE) scripts/demo.sh

demo-destroy:
	scripts/demo.sh --destroy

# Benchmarks print the figures the issues ask for; they are not tests and take minutes.
bench: venv
	$(BIN)/python benchmarks/serving.py
	$(BIN)/python benchmarks/mirror_weak_link.py

bench-quick: venv
	$(BIN)/python benchmarks/serving.py --quick
	$(BIN)/python benchmarks/mirror_weak_link.py --quick

clean:
	rm -rf .cache .pytest_cache .ruff_cache
