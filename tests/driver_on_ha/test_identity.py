"""tests/driver/test_identity.py on the component's driver in this Home Assistant environment."""

from tests.driver.test_identity import *  # noqa: F403
