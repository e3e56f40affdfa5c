"""tests/driver/test_guard_profile_url.py on the component's driver in this Home Assistant environment."""

from tests.driver.test_guard_profile_url import *  # noqa: F403
