"""The README's pictures of the status page, taken on the demo (run on demand, not a test)::

    .venv/bin/python docs/screenshot.py

Runs the demo's simulated meters and bridge (``demo_session``, with its own MQTT broker), opens
the page in Debian's headless chromium (playwright with ``executable_path``; nothing downloads a
browser), waits until every meter is online and the Series 2000's average power is known (it
takes two energy steps of 0.1 kWh), then saves ``docs/status-page.png`` (1920 px wide, the
Series 8000's points opened) and ``docs/status-page-phone.png`` (390 px).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from playwright.async_api import async_playwright

from leviton_bridge.cli.demo import demo_session

DOCS = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
READY = """() => {
    const rows = [...document.querySelectorAll("tr.meter")];
    const power = document.querySelector('tr[data-meter="demo_u1"] li[data-key="derived_power"]');
    return rows.length === 3 && rows.every(row => row.dataset.available === "true")
        && power && power.dataset.value !== "";
}"""


async def main() -> None:
    async with (
        demo_session(interval=1.0) as demo,
        async_playwright() as playwright,
    ):
        assert demo.page_url is not None
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            page = await browser.new_page(viewport={"width": 1920, "height": 1080})
            await page.goto(demo.page_url)
            await page.wait_for_function(READY, timeout=120_000)
            await page.click('tr[data-points-of="demo_u3"] summary')
            await page.wait_for_function(  # the stream sends the points once they are open
                """() => [...document.querySelectorAll('tr[data-points-of="demo_u3"] td[data-key]')]
                    .some(td => td.dataset.value !== "")""",
                timeout=120_000,
            )
            await page.screenshot(path=str(DOCS / "status-page.png"), full_page=True)
            await page.set_viewport_size({"width": 390, "height": 844})
            await page.screenshot(path=str(DOCS / "status-page-phone.png"), full_page=True)
        finally:
            await browser.close()
    print(f"wrote {DOCS / 'status-page.png'} and {DOCS / 'status-page-phone.png'}")


if __name__ == "__main__":
    asyncio.run(main())
