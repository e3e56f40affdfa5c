"""The verdicts of the driver's one supervision policy, case by case: one table that three tests
check, each through its own face.

* ``tests/driver/test_supervision.py`` drives a ``MeterSupervisor`` through a scripted meter;
* ``tests/core/test_supervision_faces.py`` drives the bridge's poller against the simulator and
  reads what its cycle reports and MQTT show;
* ``tests/ha/test_supervision_faces.py`` drives Home Assistant's coordinator against the
  simulator and reads what its entities and repairs show.

Every case starts from a meter that was identified and read once (online), with the default
settings (``offline_after`` 3). ``steps`` says what the meter does at each poll after that:

* ``answer``: it answers;
* ``lost``: its first answer is lost (too late), the poll's one retry gets an answer;
* ``silent``: it does not answer;
* ``exception``: it answers exception 02 to the poll's read (a register map it should have);
* ``lower``: its energy total drops far below the last (a glitch, or another meter's);
* ``other``: another meter (another program id) answers at its unit id.

``verdicts`` is what each poll comes to (``driver.supervision.Verdict`` values, and
``backed_off`` for a poll the supervision skips); ``online`` is whether the meter shows online
after each poll; ``identifications`` counts the full identifications that the meter answered
(after an offline period, after exception 01/02, for another meter). Standard library only: the Home
Assistant environments import it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

OFFLINE_AFTER: Final = 3


@dataclass(frozen=True)
class Case:
    name: str
    steps: tuple[str, ...]
    verdicts: tuple[str, ...]
    online: tuple[bool, ...]
    identifications: int = 0
    holding: tuple[str, ...] | None = None
    """The verdicts where the host does not adopt another meter (Home Assistant asks its user
    first), when they differ from ``verdicts``."""
    online_holding: tuple[bool, ...] | None = None
    """``online`` where the host does not adopt another meter, when it differs."""

    def verdicts_for(self, adopt_other_meter: bool) -> tuple[str, ...]:
        if adopt_other_meter or self.holding is None:
            return self.verdicts
        return self.holding

    def online_for(self, adopt_other_meter: bool) -> tuple[bool, ...]:
        if adopt_other_meter or self.online_holding is None:
            return self.online
        return self.online_holding


CASES: Final = (
    Case(
        name="lost_frame",
        steps=("lost", "answer"),
        verdicts=("read", "read"),
        online=(True, True),
    ),
    Case(
        name="outage_and_recovery",
        # Three failed polls make it offline; from then on it is tried every 2nd, 4th ...
        # poll (the 5th is skipped); its first answer brings it back, identified afresh.
        steps=("silent", "silent", "silent", "silent", "silent", "answer"),
        verdicts=("failed", "failed", "offline", "offline", "backed_off", "read"),
        online=(True, True, False, False, False, True),
        identifications=1,
    ),
    Case(
        name="exception_02",
        # A register map the meter should have is refused: identified in full at the next
        # poll (the same meter: nothing else changes).
        steps=("exception", "answer"),
        verdicts=("failed", "read"),
        online=(True, True),
        identifications=1,
    ),
    Case(
        name="implausible_total",
        # The total is held back (still online, the last good total shown); the next poll
        # checks the identity cheaply: the same meter.
        steps=("lower", "answer"),
        verdicts=("read", "read"),
        online=(True, True),
    ),
    Case(
        name="swapped_meter",
        # Off the bus for two polls (a swap takes longer than a lost frame), then another
        # meter answers: the identity check notices at once. The bridge adopts it (its
        # readings start afresh); Home Assistant reads nothing until its user accepts it.
        steps=("silent", "silent", "other", "other"),
        verdicts=("failed", "failed", "read", "read"),
        holding=("failed", "failed", "other_meter", "other_meter"),
        online=(True, True, True, True),
        online_holding=(True, True, False, False),
        identifications=1,
    ),
)

BY_NAME: Final = {case.name: case for case in CASES}
