"""tests/driver/test_block_decoder.py on the component's driver in this Home Assistant environment."""

from tests.driver.test_block_decoder import *  # noqa: F403
