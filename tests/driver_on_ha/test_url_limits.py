"""tests/driver/test_url_limits.py on the component's driver in this Home Assistant environment."""

from tests.driver.test_url_limits import *  # noqa: F403
