"""The container's HEALTHCHECK: ``python -m leviton_bridge.http.probe [CONFIG]``.

Reads the bridge's configuration (default ``/config/leviton-bridge.yaml``). With an ``http:``
section it asks the bridge's ``/healthz`` on this host and exits 0 when it answers 200, 1
otherwise, printing the answer (the reasons). Without one it can only check the configuration
(exit 0 when it is valid), as the image's HEALTHCHECK did before the bridge had a page.
"""

from __future__ import annotations

import ssl
import sys
import urllib.error
import urllib.request
from typing import Final

from ..config import ConfigError, load_config

DEFAULT_CONFIG: Final = "/config/leviton-bridge.yaml"
TIMEOUT_S: Final = 10.0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = args[0] if args else DEFAULT_CONFIG
    try:
        config = load_config(path)
    except ConfigError as err:
        print(f"{err.source}: {'; '.join(err.problems)}")
        return 1
    if config.http is None:
        print(f"{path}: valid; no http: section, so the bridge itself cannot be asked")
        return 0
    url = config.http.url + "healthz"
    context = None
    if config.http.tls:
        # Our own bridge on this host, whatever name its certificate carries.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S, context=context) as answer:
            print(answer.read().decode(errors="replace").strip())
            return 0
    except urllib.error.HTTPError as err:
        print(f"{url}: {err.code}: {err.read().decode(errors='replace').strip()}")
    except (OSError, ValueError) as err:
        print(f"{url}: {getattr(err, 'reason', None) or err}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
