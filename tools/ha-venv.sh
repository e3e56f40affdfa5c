#!/usr/bin/env bash
# Build a Python environment for the Home Assistant tests the way Home Assistant builds its own:
# Home Assistant (through pytest-homeassistant-custom-component, which pins the release and its
# test tools), then the component's manifest requirements installed by Home Assistant's own
# installer under that release's package_constraints.txt.
#
#   tools/ha-venv.sh DIR PHACC_VERSION [EXTRA_PIP_REQUIREMENT ...]
#
# EXTRA requirements are installed with Home Assistant (e.g. a hold on a package the release
# forgot to pin).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=$1 phacc=$2
shift 2
python="$(tools/find-python.sh)"

rm -rf "$dir"
"$python" -m venv "$dir"
"$dir/bin/python" -m pip install --quiet --upgrade pip
"$dir/bin/python" -m pip install --quiet "pytest-homeassistant-custom-component==$phacc" "$@"
"$dir/bin/python" tools/install_ha_requirements.py custom_components/leviton_meters/manifest.json
# Type stubs for `make typecheck`, which checks the component against this environment's
# packages (stubs are never imported at run time).
"$dir/bin/python" -m pip install --quiet types-PyYAML
"$dir/bin/python" - <<'PY'
from importlib.metadata import version
print("  " + ", ".join(f"{p} {version(p)}" for p in (
    "homeassistant", "pytest-homeassistant-custom-component", "pymodbus", "modbus-connection",
    "paho-mqtt", "pytest")))
PY
touch "$dir/.installed"
