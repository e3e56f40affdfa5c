"""tests/driver/test_manual_frames.py on the component's driver in this Home Assistant environment."""

from tests.driver.test_manual_frames import *  # noqa: F403
