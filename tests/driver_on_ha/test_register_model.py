"""tests/driver/test_register_model.py on the component's driver in this Home Assistant environment."""

from tests.driver.test_register_model import *  # noqa: F403
