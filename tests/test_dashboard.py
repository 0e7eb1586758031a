"""The dashboard in a real browser: Debian's Chromium, driven by Playwright, against a live
server whose worker is a separate process. It shows a campaign reaching 100% and a pause
click taking effect.

Chromium is a system package (`apt-get install chromium`); `.ci/run` installs it. Where it
is missing these tests skip and say why, except under CI=true, where they fail.
"""

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.sending_stack import SendingStack, act, campaign_for, channel_for, stack
from tests.smtp_sink import SmtpSink

__all__ = ["stack"]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Quiet on a machine without internet: no background connections, no sandbox as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

try:
    from playwright.async_api import Browser, Page, async_playwright, expect

    HAVE_PLAYWRIGHT = True
except ImportError:  # pragma: no cover - a dev dependency
    HAVE_PLAYWRIGHT = False


def _missing() -> str | None:
    if not HAVE_PLAYWRIGHT:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if CHROMIUM is None:
        return "Chromium is not installed (apt-get install chromium)"
    return None


@pytest.fixture
async def browser() -> AsyncIterator["Browser"]:
    why = _missing()
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot skip under CI: {why}")
        pytest.skip(why)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def open_dashboard(browser: "Browser", stack: SendingStack, key: str) -> "Page":
    page = await browser.new_page()
    await page.goto(f"{stack.server.url}/dashboard")
    await page.fill("#key", key)
    await page.click("button[type=submit]")
    await expect(page.locator("#live")).to_have_text("live")
    await expect(page.locator("#login")).to_be_hidden()
    return page


async def test_progress_reaches_100_percent_and_pause_takes_effect(
    browser: "Browser", stack: SendingStack, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    client = await stack.client()
    fast = await campaign_for(client, smtp_sink, 40)
    await channel_for(client, smtp_sink, code="slow", rateLimit=5)
    payload = await client.mutate(
        "createEmailCampaign",
        {
            "campaignName": "Slow one",
            "emailChannel": "slow",
            "contactTags": ["vip"],
            "subject": "Hi",
            "bodyHtml": "<p>slow</p>",
        },
        "campaign { id }",
    )
    slow = payload["campaign"]["id"]

    page = await open_dashboard(browser, stack, client.key)
    fast_row, slow_row = page.locator(f"#c-{fast}"), page.locator(f"#c-{slow}")
    await expect(fast_row.locator(".name")).to_have_text("Spring sale")
    await expect(fast_row.locator(".status")).to_have_text("DRAFT")

    await act(client, "startCampaign", fast)
    await expect(fast_row.locator(".pct")).to_have_text("100%", timeout=30_000)
    await expect(fast_row.locator(".status")).to_have_text("COMPLETED")
    await expect(fast_row.locator(".counts")).to_have_text("40 / 0 / 40")

    await act(client, "startCampaign", slow)
    await expect(slow_row.locator(".status")).to_have_text(re.compile("^RUNNING"))
    await expect(slow_row.locator(".pct")).not_to_have_text("0%", timeout=15_000)
    await expect(slow_row.locator(".rate")).to_have_text(re.compile(r"^[1-9]\d*/min$"))
    await slow_row.locator("button[data-action=pause]").click()
    await expect(slow_row.locator(".status")).to_have_text(re.compile("^PAUSED"))
    await expect(slow_row.locator("button[data-action=resume]")).to_be_enabled()
    await page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

    state = await client.gql(
        "query($id: ID!) { campaign(id: $id) { status execution { status } } }", {"id": slow}
    )
    assert state == {"campaign": {"status": "PAUSED", "execution": {"status": "PAUSED"}}}
    await asyncio.sleep(1.0)
    at_pause = len(smtp_sink.messages)
    await asyncio.sleep(1.5)
    assert len(smtp_sink.messages) == at_pause < 80  # the slow one stopped short of its 40


async def test_a_wrong_key_is_refused(browser: "Browser", stack: SendingStack) -> None:
    page = await browser.new_page()
    await page.goto(f"{stack.server.url}/dashboard")
    await page.fill("#key", "clr_not-a-key")
    await page.click("button[type=submit]")
    await expect(page.locator("#message")).to_have_text("That API key was not accepted.")
    await expect(page.locator("#login")).to_be_visible()
