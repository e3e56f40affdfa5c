"""Polling: buses at the same time, one request at a time on each; silent meters backed off.

Nothing here measures time: what the bridge did is read from its cycle reports (which meters
each cycle tried, whether they answered, how many requests each try sent) and from the order in
which requests and answers crossed the links.
"""

from __future__ import annotations

from typing import Any

from leviton_bridge.core.meter_state import CycleReport
from leviton_bridge.core.poller import RESET_COALESCE_S, BusPoller
from leviton_bridge.daemon import Bridge
from leviton_bridge.simulator import LineSettings
from leviton_driver.connection import PacketTrace
from tests.mqtt.conftest import (
    Broker,
    RunBridge,
    bridge_config,
    bus,
    fast,
    publish,
    record_cycles,
)
from tests.support import SteppedClock
from tests.support.inprocess import StartSimulator

Event = tuple[str, bool]
"""(bus name, True for a request sent / False for an answer received)."""


class RecordingTrace(PacketTrace):
    """The link's packet trace, also noting in one shared log each request and each answer."""

    def __init__(self, framing: str, bus: str, log: list[Event]) -> None:
        super().__init__(framing)
        self.bus = bus
        self.log = log

    def __call__(self, sending: bool, data: bytes) -> bytes:
        if data:
            self.log.append((self.bus, sending))
        return super().__call__(sending, data)


def _exchanges(log: list[Event], bus: str) -> list[tuple[int, int]]:
    """(position of the request, position of its answer) of each exchange on ``bus``; fails if
    a request leaves before the previous one was answered."""
    exchanges: list[tuple[int, int]] = []
    outstanding: int | None = None
    for position, (name, sending) in enumerate(log):
        if name != bus:
            continue
        if sending:
            assert outstanding is None, (
                f"bus {bus}: a request was sent while another awaited its answer"
            )
            outstanding = position
        elif outstanding is not None:
            exchanges.append((outstanding, position))
            outstanding = None
    return exchanges


async def test_buses_run_concurrently_one_request_at_a_time_each(
    mosquitto: Broker, start_simulator: StartSimulator, run_bridge: RunBridge, watch: Any
) -> None:
    # RS485 lines at 9600 baud with a slow turnaround: each exchange takes a while.
    line = LineSettings(baud=9600, turnaround=0.02)
    sim_a, url_a = await start_simulator("1:2000:peak=5", "2:2000", "3:1000", line=line)
    _sim_b, url_b = await start_simulator("1:2000", "2:8000-8", "3:2000", line=line)
    log: list[Event] = []

    clock = SteppedClock()

    def prepare(bridge: Bridge) -> None:
        for poller in bridge.pollers:
            connection = poller.bus.connection
            connection.trace = RecordingTrace(connection.trace.framing, poller.config.name, log)
            poller.clock = clock

    watcher = await watch(mosquitto)
    running = await run_bridge(
        bridge_config(
            mosquitto,
            bus("a", url_a, 1, 2, 3, interval=0.2),
            bus("b", url_b, 1, 2, 3, interval=0.2),
        ),
        prepare,
    )
    poller_a, poller_b = running.bridge.pollers
    await watcher.wait_for("leviton/a_u3/state")
    await watcher.wait_for("leviton/b_u3/state")
    # Commands arrive in the middle of polling; they queue on the bus like the polls.
    for count in (1, 2, 3):
        clock.advance(RESET_COALESCE_S)  # commands some seconds apart: each is a reset
        since = watcher.mark()
        await publish(mosquitto, "leviton/a_u1/reset_peak_demand/set", "PRESS")
        result = await watcher.wait_for("leviton/a_u1/reset_peak_demand/result", since=since)
        assert (result.json()["ok"], result.json()["reset_count_after"]) == (True, count)
    # Every cycle of either bus makes at least three exchanges.
    await poller_a.wait_for_cycle(poller_a.cycles + 8)
    await poller_b.wait_for_cycle(poller_b.cycles + 8)
    await running.stop()
    assert sim_a.meters[1].reset_count == 3

    a, b = _exchanges(log, "a"), _exchanges(log, "b")
    assert len(a) > 20
    assert len(b) > 20
    # An exchange of bus a and one of bus b overlap when each began before the other ended.
    overlapping = sum(1 for sa, ea in a for sb, eb in b if sa < eb and sb < ea)
    assert overlapping > len(a) // 4, "the buses were not polled at the same time"


#: The cycles in which a meter that never answers is tried, with ``offline_after: 3``: the
#: first three (it is offline after the third), then after 0, 1, 3, 7, 15, ... skipped cycles.
SILENT_TRIES = (1, 2, 3, 4, 6, 10, 18, 34, 66)


async def _first_cycle(
    poller: BusPoller, cycles: list[CycleReport], meter_id: str, *, answered: bool
) -> CycleReport:
    """The first cycle (from the next one on) whose try at ``meter_id`` answered, or not."""
    seen = len(cycles)
    while True:
        for report in cycles[seen:]:
            attempt = report.attempt(meter_id)
            if attempt is not None and attempt.answered is answered:
                return report
        seen = len(cycles)
        await poller.wait_for_cycle(seen + 1)


async def test_silent_meter_is_backed_off_and_costs_its_bus_one_request_a_try(
    mosquitto: Broker, start_simulator: StartSimulator, run_bridge: RunBridge, watch: Any
) -> None:
    # Unit 3 is configured by its series but never answers; unit 5 (series auto) answers only
    # later; unit 2 stops answering for a while. Each unanswered request costs the bus one
    # timeout, so requests are what a silent meter costs.
    sim, url = await start_simulator("1:2000", "2:2000", "4:1000", "5:1000")
    wake_5 = sim.silence(5)
    cycles: list[CycleReport] = []
    watcher = await watch(mosquitto)
    running = await run_bridge(
        bridge_config(
            mosquitto,
            bus(
                "lab",
                fast(url, 0.25),
                1,
                2,
                {"unit": 3, "series": "2000"},
                5,
                4,
                interval=0.3,
            ),
        ),
        record_cycles(cycles),
    )
    poller = running.poller
    await watcher.wait_for("leviton/lab_u3/availability", lambda m: m.payload == "offline")
    discovery = (await watcher.wait_for("homeassistant/device/leviton_lab_u3/config")).json()
    # Known from the configuration alone: its series is configured.
    assert discovery["device"]["name"] == "lab unit 3"
    assert discovery["device"]["model"] == "Series 2000"
    # Unit 5 (series auto) is offline, and without discovery until it says what it is (the
    # bridge publishes a meter's discovery before its availability).
    await watcher.wait_for("leviton/lab_u5/availability", lambda m: m.payload == "offline")
    assert watcher.all("homeassistant/device/leviton_lab_u5/config") == []
    await watcher.wait_for("leviton/lab_u4/state")

    # Unit 2 falls silent; unit 5 starts answering.
    since = watcher.mark()
    undo_2 = sim.silence(2)
    wake_5()
    first_failure = (await _first_cycle(poller, cycles, "lab_u2", answered=False)).number
    # Its tries in cycles first_failure, +1 and +2 fail (it shows offline after the third),
    # and at +3 (backed off from then on); then it answers again, at its next try (+5).
    await poller.wait_for_cycle(first_failure + 3)
    undo_2()
    await watcher.wait_for(
        "leviton/lab_u2/availability", lambda m: m.payload == "offline", since=since
    )
    await watcher.wait_for(
        "leviton/lab_u2/availability", lambda m: m.payload == "online", since=since
    )
    discovery = (await watcher.wait_for("homeassistant/device/leviton_lab_u5/config")).json()
    assert discovery["device"]["model"] == "Series 1000"
    await watcher.wait_for("leviton/lab_u5/state")
    await poller.wait_for_cycle(poller.cycles)  # the report of the cycle under way
    done = [c.number for c in cycles]
    assert done == list(range(1, len(cycles) + 1))

    def tries(meter_id: str) -> list[tuple[int, bool, int]]:
        """(cycle, answered, requests) of each try at a meter."""
        return [
            (c.number, a.answered, a.requests)
            for c in cycles
            if (a := c.attempt(meter_id)) is not None
        ]

    # The meters that answer keep their rate: every cycle polled them, and they answered.
    for meter_id in ("lab_u1", "lab_u4"):
        assert [(n, ok) for n, ok, _ in tries(meter_id)] == [(n, True) for n in done], meter_id
    # A meter that never answers is tried less and less often once it shows offline, and each
    # try costs its bus one request (one timeout), not one per question identification asks.
    assert tries("lab_u3") == [(n, False, 1) for n in done if n in SILENT_TRIES]
    assert all(c.attempt("lab_u3") is None for c in cycles if c.number not in SILENT_TRIES)
    # Unit 5 likewise, until it answered; from then on it is polled every cycle.
    unit_5 = tries("lab_u5")
    silent_5 = [(n, requests) for n, ok, requests in unit_5 if not ok]
    answered_5 = [n for n, ok, _ in unit_5 if ok]
    assert silent_5 == [(n, 1) for n in done[: answered_5[0] - 1] if n in SILENT_TRIES]
    assert answered_5 == list(range(answered_5[0], done[-1] + 1))
    # Unit 2: tried in every cycle until it failed three polls in a row (while it is shown
    # online, a read is tried twice: a lost frame is worth one more try; the third poll checks
    # its identity first, which fails at once), then backed off (tried at first_failure + 3, 5,
    # 9, ...), at one request a try.
    unit_2 = [(n - first_failure, ok, requests) for n, ok, requests in tries("lab_u2")]
    before = [entry for entry in unit_2 if entry[0] < 0]
    assert all(ok for _, ok, _ in before)
    after = [entry for entry in unit_2 if entry[0] >= 0]
    failed = [entry for entry in after if not entry[1]]
    assert [offset for offset, _, _ in failed] == [0, 1, 2, 3]
    assert 1 <= failed[0][2] <= 2, failed
    assert [requests for _, _, requests in failed[1:]] == [2, 1, 1]
    answered = [offset for offset, ok, _ in after if ok]
    assert answered[0] == 5, after  # its next turn after it answers again
    assert answered == list(range(5, 5 + len(answered)))

    assert running.bridge.states[2].available is False
    assert "nothing answers Modbus at this unit id" in (running.bridge.states[2].last_error or "")
