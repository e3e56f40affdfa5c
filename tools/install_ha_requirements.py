"""Install the component's manifest requirements the way Home Assistant installs them.

Run with a Home Assistant environment's Python: it calls Home Assistant's own installer
(``homeassistant.util.package.install_package``, which runs ``uv pip install --upgrade``) with
the release's ``package_constraints.txt``, exactly as Home Assistant does when it loads a custom
integration, so the test environment holds the versions a user's installation would.

    .venv-ha-2025.9.4/bin/python tools/install_ha_requirements.py MANIFEST [EXTRA ...]

EXTRA requirements (e.g. what a release forgets to pin) go in under the same constraints. So do
the requirements of the core integrations the manifest names in ``dependencies`` and
``after_dependencies``: Home Assistant installs those with the component's (its
``RequirementsManager`` walks both lists), e.g. core ``modbus``'s pinned pymodbus.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import homeassistant
from homeassistant.const import __version__ as ha_version
from homeassistant.util.package import install_package


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    manifest = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    constraints = Path(homeassistant.__file__).parent / "package_constraints.txt"
    components = Path(homeassistant.__file__).parent / "components"
    requirements = [*manifest.get("requirements", []), *argv[1:]]
    for domain in [*manifest.get("dependencies", []), *manifest.get("after_dependencies", [])]:
        core = json.loads((components / domain / "manifest.json").read_text(encoding="utf-8"))
        requirements += core.get("requirements", [])
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for requirement in requirements:
        if not install_package(requirement, constraints=str(constraints)):
            print(
                f"Home Assistant {ha_version} could not install {requirement} under its "
                f"constraints ({constraints})",
                file=sys.stderr,
            )
            return 1
    print(f"Home Assistant {ha_version}: installed {', '.join(requirements)} under its constraints")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
