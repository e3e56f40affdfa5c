"""tests/driver/test_bus_process.py on the component's driver in this Home Assistant environment."""

from tests.driver.test_bus_process import *  # noqa: F403
