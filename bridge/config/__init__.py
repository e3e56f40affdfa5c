"""The bridge's configuration: the YAML file, checked, as typed settings.

* ``schema``: reading and checking the file (``load_config``, ``parse_config``): every problem
  at once, one line each, with its place;
* ``validators``: the checks of single values (URLs, addresses, files, ranges);
* ``safe_yaml``: reading YAML without letting a hostile file hang or crash the bridge;
* ``settings``: what a checked configuration is: plain, typed data every other part takes.

May import: the driver (``leviton_driver``). Nothing else of the bridge.
"""

from .schema import ConfigError, load_config, parse_config
from .settings import (
    BacnetConfig,
    BridgeConfig,
    BusConfig,
    HttpConfig,
    MeterConfig,
    MqttConfig,
    slug,
)

__all__ = [
    "BacnetConfig",
    "BridgeConfig",
    "BusConfig",
    "ConfigError",
    "HttpConfig",
    "MeterConfig",
    "MqttConfig",
    "load_config",
    "parse_config",
    "slug",
]
