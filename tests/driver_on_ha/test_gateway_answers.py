"""tests/driver/test_gateway_answers.py on the component's driver in this Home Assistant environment."""

from tests.driver.test_gateway_answers import *  # noqa: F403
