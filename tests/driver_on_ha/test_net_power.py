"""tests/driver/test_net_power.py on the component's driver in this Home Assistant environment."""

from tests.driver.test_net_power import *  # noqa: F403
