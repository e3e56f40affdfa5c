"""tests/driver/test_model_description.py on the component's driver in this Home Assistant environment."""

from tests.driver.test_model_description import *  # noqa: F403
