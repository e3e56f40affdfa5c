"""``leviton-bridge``: the command line.

* ``main``: the command table (argparse), logging and exit codes;
* ``commands``: each command (read, scan, reset-demand, set-unit-id, dump, simulate, run,
  check-config, bacnet-ede, report, demo);
* ``render``: how the commands show meters to people (and, through ``core.codec``, to
  programs);
* ``explorer``: the register explorer (``dump``);
* ``demo``: ``make demo``, simulated meters and the bridge with an embedded broker.

The top of the house: may import everything (the daemon, the faces, the simulator).
"""

from .main import main

__all__ = ["main"]
