"""The dashboard in a real headless Chromium: it shows streams and updates live."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitoring.support import Running

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = Path(__file__).parents[2] / "test-artifacts" / "dashboard.png"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
)


async def produce(ar, stream: str, count: int) -> None:
    pipe = ar.pipeline(transaction=False)
    for i in range(count):
        pipe.xadd(stream, {"n": str(i), "body": "x" * 64})
    await pipe.execute()


async def test_the_dashboard_shows_a_stream_and_updates_as_messages_arrive(
    monitored: Running, ar
) -> None:
    from playwright.async_api import async_playwright, expect

    stream = "shop/orders:eu"
    await produce(ar, stream, 40)
    await ar.xgroup_create(stream, "billing", id="0")
    await ar.xreadgroup("billing", "worker-1", {stream: ">"}, count=15)
    url = str(monitored.http.base_url)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=ARGS
        )
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 720})
            await page.goto(url)
            row = page.locator(f'tr.stream[data-stream="{stream}"]')
            await expect(row.locator("td.length")).to_have_text("40", timeout=15_000)
            await expect(row).to_contain_text("25 msgs")

            await produce(ar, stream, 60)

            await expect(row.locator("td.length")).to_have_text("100", timeout=15_000)
            await expect(row).to_contain_text("85 msgs")
            await row.click()
            await expect(page.locator("tr.details")).to_contain_text("worker-1")
            await expect(page.locator("#redis-status")).to_have_attribute(
                "data-ok", "true"
            )
            SCREENSHOT.parent.mkdir(exist_ok=True)
            await page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            await browser.close()
