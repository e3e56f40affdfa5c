"""tests/driver/test_supervision.py on the component's driver in this Home Assistant environment."""

from tests.driver.test_supervision import *  # noqa: F403
