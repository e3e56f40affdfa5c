"""The history charts on the status page, in Debian's chromium: the demo's simulated meters on
a held clock that the test moves from boundary to boundary, so that every interval's energy is
known exactly; a step in one meter's load must show as a step in its bars, and the interval in
progress must grow as the meter is read. Every wait is for something to happen (a poll, a
cycle written, an element on the page), never for a time."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from playwright.async_api import ConsoleMessage, Page, async_playwright

from leviton_bridge.cli.demo import DemoSession, demo_session
from tests.http.test_page import log_in, wait_all_online
from tests.support import PATIENCE
from tests.support.mosquitto import Broker
from tests.support.statuspage import SCREENSHOTS, TOKEN, HeldClock, http_section

WAIT_MS = PATIENCE * 1000
INTERVAL = 300  # the demo keeps 5-minute intervals
EPOCH = int(time.time()) - 1000
"""The meters' wall clock is EPOCH + the held clock (which starts at 1000): the time the test
starts, so that the screenshot's "last poll" reads as it would; nothing depends on it."""


@dataclass
class ChartDemo:
    demo: DemoSession
    clock: HeldClock
    page: Page
    errors: list[str] = field(default_factory=list)

    def wall(self) -> float:
        return EPOCH + self.clock.now

    async def polled(self, cycles: int = 2) -> None:
        """Every meter read (twice) at the clock's time."""
        poller = self.demo.bridge.pollers[0]
        await poller.wait_for_cycle(poller.cycles + cycles)

    async def at(self, wall: float) -> None:
        """Move the meters' clock to ``wall`` and wait until they have been read there."""
        self.clock.now = wall - EPOCH
        await self.polled()

    async def written(self, cycles: int) -> None:
        face = self.demo.bridge.face("history")
        await face.changes.wait_until(lambda: face.cycles >= cycles)


@pytest.fixture
async def charts(mosquitto: Broker, chromium: str) -> AsyncIterator[ChartDemo]:
    clock = HeldClock()
    async with (
        demo_session(
            interval=0.3,
            broker_url=mosquitto.url,
            http=http_section(token=TOKEN),
            link_timeout=0.3,
            clock=clock,
            wall_clock=lambda: EPOCH + clock.now,
        ) as demo,
        async_playwright() as playwright,
    ):
        browser = await playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1600, "height": 1000})
            page = await context.new_page()
            page.set_default_timeout(WAIT_MS)
            handle = ChartDemo(demo, clock, page)

            def console(message: ConsoleMessage) -> None:
                if message.type == "error" and "status of 401" not in message.text:
                    handle.errors.append(message.text)

            page.on("pageerror", lambda error: handle.errors.append(str(error)))
            page.on("console", console)
            assert demo.page_url is not None
            await log_in(page, demo.page_url)
            await wait_all_online(page)
            yield handle
            assert handle.errors == [], f"the page's scripts failed: {handle.errors}"
        finally:
            await browser.close()


def register(energy: float) -> float:
    """What a Series 2000 shows of an energy total: tenths of a kWh, rounded down."""
    return math.floor(energy * 10 + 1e-9) / 10


BARS_JS = """selector => [...document.querySelectorAll(selector)].map(bar => ({
    start: bar.dataset.start, energy: bar.dataset.energy, quality: bar.dataset.quality,
    height: Number(bar.getAttribute("height"))}))"""


async def test_a_load_step_shows_as_a_step_in_the_bars(charts: ChartDemo) -> None:
    page = charts.page
    meter = charts.demo.simulator.meters[1]  # the workshop's Series 2000, 45 kW
    first = (int(charts.wall()) // INTERVAL + 1) * INTERVAL
    await page.click('tr[data-history-of="demo_u1"] summary')
    await page.wait_for_selector('tr[data-history-of="demo_u1"] figure.chart svg.day')
    totals: dict[int, float] = {}
    boundaries = [first + k * INTERVAL for k in range(8)]
    for number, boundary in enumerate(boundaries, start=1):
        if number == 5:
            meter.set_load(90.0)  # the step, at the fourth boundary
        await charts.at(boundary)
        totals[boundary] = register(meter.energy_delivered())
        await charts.written(number)
    # Each closed interval since the first whole one: what the simulated meter counted.
    expected = {
        start: round(totals[start + INTERVAL] - totals[start], 1) for start in boundaries[:-1]
    }
    bars = 'tr[data-history-of="demo_u1"] svg.day rect.bar'
    await page.wait_for_function(
        """([selector, count]) => [...document.querySelectorAll(selector)]
            .filter(bar => bar.dataset.quality === "good").length >= count""",
        arg=[bars, len(expected)],
        timeout=WAIT_MS,
    )
    shown = {
        bar["start"]: bar for bar in await page.evaluate(BARS_JS, bars) if bar["quality"] == "good"
    }
    from leviton_bridge.core.codec import iso

    for start, energy in expected.items():
        bar = shown[iso(start)]
        assert float(bar["energy"]) == pytest.approx(energy, abs=1e-6), (iso(start), bar)
    before = [expected[start] for start in boundaries[:3]]
    after = [expected[start] for start in boundaries[4:7]]
    assert all(3.7 <= energy <= 3.8 for energy in before), before  # 45 kW for 5 minutes
    assert all(7.4 <= energy <= 7.6 for energy in after), after  # 90 kW
    heights = {start: shown[iso(start)]["height"] for start in expected}
    assert min(heights[s] for s in boundaries[4:7]) > 1.9 * max(heights[s] for s in boundaries[:3])
    # The interval in progress grows as the meter is read, without a reload.
    open_bar = 'tr[data-history-of="demo_u1"] svg.day rect.bar.open'
    grown_to = register(meter.energy_delivered() + 90.0 * 120 / 3600) - totals[boundaries[-1]]
    await charts.at(boundaries[-1] + 120)
    await page.wait_for_function(
        """([selector, energy]) => {
            const bar = document.querySelector(selector);
            return bar && Math.abs(Number(bar.dataset.energy) - energy) < 1e-6;
        }""",
        arg=[open_bar, round(grown_to, 1)],
        timeout=WAIT_MS,
    )
    # And the last 30 days: today's bar holds the energy of the day so far.
    assert await page.query_selector('tr[data-history-of="demo_u1"] svg.month rect.bar')
    SCREENSHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "status-page-history.png"), full_page=True)


async def test_a_series_8000_shows_a_chart_per_point(charts: ChartDemo) -> None:
    """Each metering point its own chart, folded with the meter, its bars the point's
    intervals as the API gives them (a small point's 0.1 kWh steps make some of them 0)."""
    page = charts.page
    first = (int(charts.wall()) // INTERVAL + 1) * INTERVAL
    await page.click('tr[data-history-of="demo_u3"] summary')
    for number in range(1, 5):
        await charts.at(first + (number - 1) * INTERVAL)
        await charts.written(number)
    figures = 'tr[data-history-of="demo_u3"] figure.chart'
    await page.wait_for_function(
        """selector => [...document.querySelectorAll(selector)].length === 12 &&
            [...document.querySelectorAll(selector)].every(figure =>
                [...figure.querySelectorAll("svg.day rect.bar")]
                    .filter(bar => bar.dataset.quality === "good").length >= 3)""",
        arg=figures,
        timeout=WAIT_MS,
    )
    shown = await page.eval_on_selector_all(
        figures,
        """figures => figures.map(figure => [figure.dataset.point,
            [...figure.querySelectorAll("svg.day rect.bar")]
                .filter(bar => bar.dataset.quality === "good")
                .map(bar => [bar.dataset.start, Number(bar.dataset.energy)])])""",
    )
    assert [point for point, _bars in shown] == [str(point) for point in range(1, 13)]
    answer = await page.request.get(f"{charts.demo.page_url}api/meters/demo_u3/history")
    rows = (await answer.json())["rows"]
    total = 0.0
    for point, bars in shown:
        api = {
            row["start"]: row["energy_delivered"]
            for row in rows
            if row["point"] == int(point) and row["quality"] == "good"
        }
        assert dict(bars) == pytest.approx(api), point
        total += sum(energy for _start, energy in bars)
    assert total > 0
