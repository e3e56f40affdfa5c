# The two commands of the README:
#   make demo   set up and run the demo (simulated meters, an MQTT broker, the bridge, shown live)
#   make test   set up and run the whole test suite (lint, types, tests); .ci/run runs this
#
# Environments (each built once, rebuilt when what it is built from changes):
#   .venv                    the driver, the bridge and their tests, with current libraries
#   .venv-ha-2025.9.4        Home Assistant 2025.9.4, the oldest supported release, and
#   .venv-ha-2026.2.3        Home Assistant 2026.2.3, the newest in the package index: each built
#                            as Home Assistant builds its own (tools/ha-venv.sh)
# All use a Python >= 3.13.2 found by tools/find-python.sh, which builds CPython 3.13.5 under
# pyenv when there is none (Debian, as root; about 5-10 minutes, once per machine). The Debian
# packages the tests need (socat, mosquitto) are installed with apt-get when missing (as root).
# So is chromium: the status page's browser test drives Debian's /usr/bin/chromium (playwright
# with executable_path; nothing downloads a browser).

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# pip warns about every package for index folders this machine kind lists but lacks.
QUIET_PIP := 2>&1 | { grep -v "^WARNING: Location '.*' is ignored" || true; }
VENV ?= .venv
PY := $(VENV)/bin/python
DEBIAN_PACKAGES := socat mosquitto chromium

# Home Assistant releases the component is tested on, with the pytest-homeassistant-custom-
# component release that pins each. 2025.9.4 pins aiodns 3.5.0 but not pycares, and pycares 5
# (released later) breaks that aiodns: hold it back there.
HA_OLDEST := 2025.9.4
HA_OLDEST_PHACC := 0.13.281
HA_OLDEST_EXTRA := pycares<5
HA_NEWEST := 2026.2.3
HA_NEWEST_PHACC := 0.13.316
HA_RELEASES := $(HA_OLDEST) $(HA_NEWEST)
HA_VENVS := $(addprefix .venv-ha-,$(HA_RELEASES))

COMPONENT := custom_components/leviton_meters
# One data file per run (.coverage.project, .coverage.ha-RELEASE; processes they start add their
# own); `make coverage` combines them into build/coverage/.coverage.
COVERAGE_DATA := $(CURDIR)/build/coverage/.coverage

.PHONY: demo test setup system-packages lint typecheck pytest pytest-ha pytest-all coverage bench \
	bench-scale bench-bacnet bench-ha bench-soak bench-history clean

demo: system-packages $(VENV)/.installed-demo
	$(VENV)/bin/leviton-bridge demo

test: setup lint typecheck pytest-all coverage

setup: system-packages $(VENV)/.installed $(addsuffix /.installed,$(HA_VENVS))

$(VENV)/.installed: pyproject.toml tools/find-python.sh
	@python="$$(tools/find-python.sh)" && rm -rf $(VENV) && "$$python" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip $(QUIET_PIP)
	$(PY) -m pip install --quiet -e ".[test]" $(QUIET_PIP)
	touch $@

$(VENV)/.installed-demo: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[test,demo]" $(QUIET_PIP)
	touch $@

.venv-ha-$(HA_OLDEST)/.installed: $(COMPONENT)/manifest.json tools/ha-venv.sh tools/install_ha_requirements.py tools/find-python.sh
	tools/ha-venv.sh .venv-ha-$(HA_OLDEST) $(HA_OLDEST_PHACC) "$(HA_OLDEST_EXTRA)" $(QUIET_PIP)

.venv-ha-$(HA_NEWEST)/.installed: $(COMPONENT)/manifest.json tools/ha-venv.sh tools/install_ha_requirements.py tools/find-python.sh
	tools/ha-venv.sh .venv-ha-$(HA_NEWEST) $(HA_NEWEST_PHACC) $(QUIET_PIP)

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
# the component); mypy checks the bridge's view through a tree of links, and the component
# against the newest Home Assistant's packages.
typecheck: $(VENV)/.installed .venv-ha-$(HA_NEWEST)/.installed
	@mkdir -p build/mypy
	@ln -sfn ../../$(COMPONENT)/driver build/mypy/leviton_driver
	@ln -sfn ../../bridge build/mypy/leviton_bridge
	MYPYPATH=build/mypy $(VENV)/bin/mypy -p leviton_driver -p leviton_bridge
	$(VENV)/bin/mypy --python-executable .venv-ha-$(HA_NEWEST)/bin/python $(COMPONENT)

# Everything but the Home Assistant tests, in the project's environment.
pytest: $(VENV)/.installed
	@mkdir -p build/coverage && rm -f $(COVERAGE_DATA).project*
	COVERAGE_FILE=$(COVERAGE_DATA).project $(PY) -m pytest -q --ignore=tests/ha --cov --cov-report=

# tests/ha, tests/compat and tests/driver_on_ha (tests/driver again, on the component's copy of
# the driver and the release's pymodbus) on each Home Assistant release, in its own environment.
# The simulated meters (and the bridge, for the MQTT discovery test) run as processes of the
# project's environment, through wrappers (build/bin/ha-RELEASE: leviton-bridge, and the python
# beside it that tests/support/faces.py runs with) that send their coverage to a file of their
# own (.coverage.processes-ha-RELEASE*, counted in the union): .coverage.ha-RELEASE holds only
# what ran in Home Assistant's process, which coverage-ha-RELEASE gates.
pytest-ha: $(addprefix pytest-ha-,$(HA_RELEASES))

pytest-ha-%: $(VENV)/.installed .venv-ha-%/.installed
	@mkdir -p build/coverage build/bin/ha-$* && rm -f $(COVERAGE_DATA).ha-$** $(COVERAGE_DATA).processes-ha-$**
	@for program in leviton-bridge python; do \
		printf '#!/bin/sh\nCOVERAGE_FILE=%s exec %s "$$@"\n' $(COVERAGE_DATA).processes-ha-$* \
			$(CURDIR)/$(VENV)/bin/$$program > build/bin/ha-$*/$$program && chmod +x build/bin/ha-$*/$$program; \
	done
	LEVITON_BRIDGE=$(CURDIR)/build/bin/ha-$*/leviton-bridge COVERAGE_FILE=$(COVERAGE_DATA).ha-$* \
		.venv-ha-$*/bin/python -m pytest -q tests/ha tests/compat tests/driver_on_ha --cov --cov-report=

# What make test runs: the project's suite and each release's at once (tools/run-together.sh
# shows each one's output whole once all have ended).
pytest-all: setup
	@rm -rf build/coverage
	tools/run-together.sh "project=$(MAKE) --no-print-directory pytest" \
		$(foreach release,$(HA_RELEASES),"ha-$(release)=$(MAKE) --no-print-directory pytest-ha-$(release)")

# Each Home Assistant release's run alone, its own process only (quality_scale.yaml's
# config-flow-test-coverage and test-coverage): the flows fully covered, and the component
# with its driver at 95% or better; one decimal, so that 94.96% does not round up to 95%.
coverage-ha-%: $(VENV)/.installed
	COVERAGE_FILE=$(COVERAGE_DATA).ha-$* $(VENV)/bin/coverage report --precision=1 --show-missing \
		--include='$(COMPONENT)/config_flow.py,$(COMPONENT)/options_flow.py' --fail-under=100
	COVERAGE_FILE=$(COVERAGE_DATA).ha-$* $(VENV)/bin/coverage report --precision=1 --skip-covered \
		--include='$(COMPONENT)/*' --fail-under=95

# Then the union of every environment's run and every process the tests start: the component
# (with its driver) at 95% or better, the bridge at 93% or better (94% now).
coverage: $(VENV)/.installed $(addprefix coverage-ha-,$(HA_RELEASES))
	COVERAGE_FILE=$(COVERAGE_DATA) $(VENV)/bin/coverage combine --keep --quiet build/coverage
	COVERAGE_FILE=$(COVERAGE_DATA) $(VENV)/bin/coverage report --skip-covered --include='$(COMPONENT)/*' --fail-under=95
	COVERAGE_FILE=$(COVERAGE_DATA) $(VENV)/bin/coverage report --skip-covered --include='bridge/*' --fail-under=93

bench: $(VENV)/.installed
	$(PY) bench/bus.py

bench-scale: setup
	$(PY) bench/scale.py

bench-bacnet: $(VENV)/.installed
	$(PY) bench/bacnet.py

# The component against the bridge, and against core modbus, in a real Home Assistant.
bench-ha: setup
	$(PY) bench/ha_bus.py
	$(PY) bench/core_modbus.py

bench-soak: $(VENV)/.installed
	$(PY) bench/soak.py

# The interval history: 400 days of 500 meters (a few GB, for a while), then its cost to polling.
bench-history: $(VENV)/.installed
	$(PY) bench/history.py
	$(PY) bench/scale.py --history

clean:
	rm -rf $(VENV) $(HA_VENVS) build .pytest_cache .mypy_cache .ruff_cache
