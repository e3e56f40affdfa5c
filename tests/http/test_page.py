"""The status page in a real headless browser (Debian's chromium, driven by playwright), on the
demo's simulated meters run as the demo runs them (``demo_session``), with a token.

The simulated meters keep their readings still (their clock is held) until a test changes one,
so that what the page shows can be compared with what ``leviton-bridge read`` reads. Every wait
is for something to happen on the page (playwright's ``wait_for_*``), never for a time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    async_playwright,
)

from leviton_bridge.cli.demo import DEMO_METERS, DemoSession, demo_session
from tests.support import PATIENCE
from tests.support.mosquitto import Broker
from tests.support.simulator_process import bridge_executable
from tests.support.statuspage import SCREENSHOTS, TOKEN, HeldClock, http_section

WAIT_MS = PATIENCE * 1000
METER_IDS = [f"demo_u{spec.split(':')[0]}" for spec, _ in DEMO_METERS]


@dataclass
class PageDemo:
    demo: DemoSession
    clock: HeldClock
    browser: Browser
    context: BrowserContext
    page: Page
    errors: list[str] = field(default_factory=list)
    posts: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        assert self.demo.page_url is not None
        return self.demo.page_url

    def row(self, meter_id: str) -> str:
        return f'tr.meter[data-meter="{meter_id}"]'


async def log_in(page: Page, url: str) -> None:
    """Open the page: the login form first (a token is set), then the meters."""
    answer = await page.goto(url)
    assert answer is not None
    assert answer.status == 401
    await page.fill("#token", TOKEN)
    await page.click("button[type=submit]")
    await page.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)


@pytest.fixture
async def page_demo(mosquitto: Broker, chromium: str) -> AsyncIterator[PageDemo]:
    clock = HeldClock()  # the meters' clock, simulated and counted on by the bridge: held
    async with (
        demo_session(
            interval=0.3,
            broker_url=mosquitto.url,
            http=http_section(token=TOKEN),
            link_timeout=0.3,
            clock=clock,
        ) as demo,
        async_playwright() as playwright,
    ):
        browser = await playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1920, "height": 1080})
            page = await context.new_page()
            page.set_default_timeout(WAIT_MS)
            handle = PageDemo(demo, clock, browser, context, page)
            page.on("pageerror", lambda error: handle.errors.append(str(error)))

            def console(message: ConsoleMessage) -> None:
                # Script errors and Content-Security-Policy violations; not the 401 answers the
                # test asks for.
                if message.type == "error" and "status of 401" not in message.text:
                    handle.errors.append(message.text)

            page.on("console", console)

            def note(request: Request) -> None:
                if request.method == "POST":
                    handle.posts.append(request.url)

            await log_in(page, handle.url)
            page.on("request", note)
            yield handle
            assert handle.errors == [], f"the page's scripts failed: {handle.errors}"
        finally:
            await browser.close()


async def wait_all_online(page: Page) -> None:
    await page.wait_for_function(
        """ids => ids.every(id => {
            const row = document.querySelector(`tr.meter[data-meter="${id}"]`);
            return row && row.dataset.available === "true";
        })""",
        arg=METER_IDS,
        timeout=WAIT_MS,
    )


async def read_json(url: str, unit: int) -> dict[str, Any]:
    """What ``leviton-bridge read --json`` says about a meter (the real command)."""
    process = await asyncio.create_subprocess_exec(
        bridge_executable(),
        "read",
        "--connect",
        url,
        "--unit",
        str(unit),
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), PATIENCE)
    assert process.returncode == 0, err.decode()
    data: dict[str, Any] = json.loads(out)
    return data


SHOWN_JS = """() => [...document.querySelectorAll("tr.meter")].map(row => ({
    id: row.dataset.meter,
    text: row.innerText,
    readings: Object.fromEntries([...row.querySelectorAll("li[data-key]")]
        .map(li => [li.dataset.key, li.dataset.value])),
    shown: Object.fromEntries([...row.querySelectorAll("li[data-key]")]
        .map(li => [li.dataset.key, li.querySelector(".value").textContent])),
    points: Object.fromEntries([...document.querySelectorAll(
        `tr[data-points-of="${row.dataset.meter}"] tr[data-point]`)].map(tr => [
            tr.dataset.point,
            Object.fromEntries([...tr.querySelectorAll("td[data-key]")]
                .map(td => [td.dataset.key, td.dataset.value]))])),
}))"""


async def test_every_meter_shows_what_read_reads(page_demo: PageDemo) -> None:
    """Every configured meter is on the page, with the values ``leviton-bridge read`` reads
    from the same meter (and its model, versions and program id)."""
    page = page_demo.page
    await wait_all_online(page)
    # A Series 8000's points come with the stream once they are opened.
    await page.click('tr[data-points-of="demo_u3"] summary')
    await page.wait_for_function(
        """() => [...document.querySelectorAll('tr[data-points-of="demo_u3"] tr[data-point]')]
            .filter(row => row.querySelector("td[data-key]").dataset.value !== "").length === 12""",
        timeout=WAIT_MS,
    )
    shown = {row["id"]: row for row in await page.evaluate(SHOWN_JS)}
    assert sorted(shown) == sorted(METER_IDS)
    for spec, name in DEMO_METERS:
        unit = int(spec.split(":")[0])
        row = shown[f"demo_u{unit}"]
        read = await read_json(page_demo.demo.modbus_url, unit)
        assert name in row["text"]
        assert read["model"] in row["text"]
        assert f"hardware V{read['hardware_version']}" in row["text"]
        assert f"software V{read['software_version']}" in row["text"]
        assert f"program id {read['program_id']}" in row["text"]
        compared = [key for key in read["readings"] if key != "program_id"]
        assert compared, read
        for key in compared:
            assert key in row["readings"], f"{row['id']} does not show {key}"
            if read["readings"][key] is None:  # unknown to one read (derived power): unknown here
                assert row["readings"][key] == "", (row["id"], key)
                continue
            assert float(row["readings"][key]) == read["readings"][key], (row["id"], key)
        for point, values in read.get("points", {}).items():
            assert set(values) <= set(row["points"][point]), (row["id"], point)
            for key, value in values.items():
                assert float(row["points"][point][key]) == value, (row["id"], point, key)
        assert len(row["points"]) == len(read.get("points", {}))
    # As people see them: rounded to the meter's resolution, with units.
    workshop = shown["demo_u1"]
    assert workshop["shown"]["energy_delivered"] == "48210.3"
    assert workshop["shown"]["peak_demand"] == "45.00"
    assert "kWh" in workshop["text"]
    # The pictures in the README (and a phone's view) come from here.
    SCREENSHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "status-page-1920.png"), full_page=True)
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.screenshot(path=str(SCREENSHOTS / "status-page-phone.png"), full_page=True)


async def test_a_reading_changes_without_a_reload(page_demo: PageDemo) -> None:
    page = page_demo.page
    await wait_all_online(page)
    await page.evaluate("() => { window.notReloaded = true; }")
    peak = 'tr.meter[data-meter="demo_u1"] li[data-key="peak_demand"] .value'
    assert await page.text_content(peak) == "45.00"
    page_demo.demo.simulator.meters[1].peak = 51.25  # the meter sees a higher demand
    await page.wait_for_function(
        "selector => document.querySelector(selector).textContent === '51.25'",
        arg=peak,
        timeout=WAIT_MS,
    )
    assert await page.evaluate("() => window.notReloaded === true"), "the page was reloaded"


async def test_a_silenced_meter_turns_unavailable(page_demo: PageDemo) -> None:
    page = page_demo.page
    await wait_all_online(page)
    undo = page_demo.demo.simulator.silence(2)
    row = page_demo.row("demo_u2")
    await page.wait_for_selector(f'{row}[data-available="false"]', timeout=WAIT_MS)
    assert (await page.text_content(f"{row} .status")) == "offline"
    error = await page.text_content(f"{row} td.error")
    assert "unit 2" in (error or ""), error
    # The other meters stay online.
    for other in ("demo_u1", "demo_u3"):
        assert await page.get_attribute(page_demo.row(other), "data-available") == "true"
    undo()
    await page.wait_for_selector(f'{row}[data-available="true"]', timeout=WAIT_MS)


async def test_the_reset_button_resets_the_meter_once(page_demo: PageDemo) -> None:
    page = page_demo.page
    meter = page_demo.demo.simulator.meters[1]
    await wait_all_online(page)
    before = meter.reset_count
    row = page_demo.row("demo_u1")
    # The confirmation step: cancelling sends nothing.
    await page.click(f"{row} button.reset")
    await page.wait_for_selector(f"{row} .confirm:not([hidden])")
    await page.click(f"{row} button.cancel-reset")
    await page.wait_for_selector(f"{row} button.reset:not([hidden])")
    assert page_demo.posts == []
    # Confirmed: one request, one reset, and the result on the page.
    await page.click(f"{row} button.reset")
    await page.click(f"{row} button.confirm-reset")
    await page.wait_for_function(
        "selector => document.querySelector(selector).textContent.startsWith('Reset:')",
        arg=f"{row} .result",
        timeout=WAIT_MS,
    )
    result = await page.text_content(f"{row} .result")
    assert result == f"Reset: counter {before} → {before + 1}, peak 45.00 → 0.00 kW", result
    assert meter.reset_count == before + 1
    assert [url.rsplit("/", 2)[-2:] for url in page_demo.posts] == [
        ["demo_u1", "reset_peak_demand"]
    ]
    # The meter's new peak demand shows without a reload.
    await page.wait_for_function(
        "selector => document.querySelector(selector).textContent === '0.00'",
        arg=f'{row} li[data-key="peak_demand"] .value',
        timeout=WAIT_MS,
    )
    assert meter.reset_count == before + 1
    # A Series 8000 has no documented reset: no button.
    assert await page.query_selector(f"{page_demo.row('demo_u3')} button.reset") is None


async def test_requests_without_the_token_are_refused(page_demo: PageDemo) -> None:
    meter = page_demo.demo.simulator.meters[1]
    before = meter.reset_count
    url = page_demo.url
    stranger = await page_demo.browser.new_context()
    try:
        page = await stranger.new_page()
        page.set_default_timeout(WAIT_MS)
        answer = await page.goto(url)
        assert answer is not None
        assert answer.status == 401
        assert await page.is_visible("form[action='/login'] #token")
        assert await page.query_selector("tr.meter") is None
        for path in ("api/meters", "api/meters/demo_u1", "api/events", "metrics"):
            refused = await stranger.request.get(url + path)
            assert refused.status == 401, path
        reset = await stranger.request.post(
            url + "api/meters/demo_u1/reset_peak_demand",
            data={"confirm": True},
            headers={"X-CSRF-Token": "guessed"},
        )
        assert reset.status == 401
        # A wrong token is refused in words; the right one opens the page.
        await page.fill("#token", "not-the-token-at-all")
        await page.click("button[type=submit]")
        await page.wait_for_selector("p.error")
        assert "not this bridge's token" in (await page.text_content("p.error") or "")
        assert await page.query_selector("tr.meter") is None
    finally:
        await stranger.close()
    # Logged in, but the request does not come from the page: no CSRF token, or another origin.
    own = page_demo.page.request
    without_csrf = await own.post(
        url + "api/meters/demo_u1/reset_peak_demand", data={"confirm": True}
    )
    assert without_csrf.status == 403
    other_origin = await own.post(
        url + "api/meters/demo_u1/reset_peak_demand",
        data={"confirm": True},
        headers={"Origin": "http://attacker.example", "X-CSRF-Token": "guessed"},
    )
    assert other_origin.status == 403
    healthz = await own.get(url + "healthz")
    assert healthz.status == 200
    assert meter.reset_count == before
