# The two commands of the README:
#   make demo   set up and run the demo (simulated meters, read live)
#   make test   set up and run the whole test suite (lint, types, tests); .ci/run runs this
#
# Setup needs Python 3.13 (Home Assistant's test harness needs it; the driver and the bridge
# alone run on 3.12+), and the Debian packages socat (serial tests) and mosquitto (MQTT tests),
# installed with apt-get when missing and run as root.

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON_313 := $(shell for p in "$$(pyenv root 2>/dev/null)/versions/3.13.0/bin/python3.13" python3.13; do \
	if command -v "$$p" >/dev/null 2>&1 || [ -x "$$p" ]; then echo "$$p"; break; fi; done)
DEBIAN_PACKAGES := socat mosquitto

.PHONY: demo test setup system-packages lint typecheck pytest bench bench-scale bench-bacnet clean

demo: $(VENV)/.installed
	$(VENV)/bin/leviton-bridge demo

test: setup lint typecheck pytest

setup: system-packages $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@if [ -z "$(PYTHON_313)" ]; then echo "Python 3.13 is needed (pyenv install 3.13 or apt-get install python3.13)" >&2; exit 1; fi
	"$(PYTHON_313)" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,homeassistant-test]"
	touch $@

system-packages:
	@missing=""; for p in $(DEBIAN_PACKAGES); do command -v $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing$$missing"; \
			apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else echo "please install:$$missing (sudo apt-get install$$missing)" >&2; exit 1; fi; \
	fi

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The driver is one folder with two import names (leviton_driver for the bridge, .driver inside
# the component); mypy checks the bridge's view through a tree of links.
typecheck: $(VENV)/.installed
	@mkdir -p build/mypy
	@ln -sfn ../../custom_components/leviton_meters/driver build/mypy/leviton_driver
	@ln -sfn ../../bridge build/mypy/leviton_bridge
	MYPYPATH=build/mypy $(VENV)/bin/mypy -p leviton_driver -p leviton_bridge
	$(VENV)/bin/mypy custom_components/leviton_meters

# The Home Assistant component (with its driver) must stay at 95% coverage or better.
pytest: $(VENV)/.installed
	$(PY) -m pytest -q --cov=custom_components/leviton_meters --cov-report=term:skip-covered --cov-fail-under=95

bench: $(VENV)/.installed
	$(PY) bench/bus.py

bench-scale: setup
	$(PY) bench/scale.py

bench-bacnet: $(VENV)/.installed
	$(PY) bench/bacnet.py

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
