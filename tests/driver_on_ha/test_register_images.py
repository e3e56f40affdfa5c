"""tests/driver/test_register_images.py on the component's driver in this Home Assistant environment."""

from tests.driver.test_register_images import *  # noqa: F403
