"""``python -m leviton_bridge``."""

import sys

from .cli import main

sys.exit(main())
