"""The dashboard's WhatsApp/SMS side in Chromium, against a live server, a `clarion worker`
process and the Twilio stand-in: a campaign's figures after sending and its rates, the
leads table updating live (PENDING to SENT while watched, DELIVERED when a callback's change
is announced), and the enabled switch pausing and resuming the campaign."""

import asyncio
from pathlib import Path

from playwright.async_api import Browser, expect

from jobs.lead_events import announce
from tests.live_leads import mark_delivered, set_counters, stack_redis
from tests.messaging_stack import campaign_leads, leads, messaging_campaign, twilio_channel_for
from tests.sending_stack import SendingStack, act, stack, wait_until
from tests.support import GraphQLClient, pk_of
from tests.test_dashboard import browser, open_dashboard
from tests.twilio_standin.fixture import Standin, twilio_standin

__all__ = ["browser", "stack", "twilio_standin"]


async def status_of(client: GraphQLClient, campaign_id: str) -> str:
    data = await client.gql("query($id: ID!) { campaign(id: $id) { status } }", {"id": campaign_id})
    status: str = data["campaign"]["status"]
    return status


async def test_figures_leads_and_the_enabled_switch(
    browser: Browser, stack: SendingStack, twilio_standin: Standin, tmp_path: Path
) -> None:
    twilio_standin.control.reset()
    client = await stack.client()
    fast = await twilio_channel_for(client, twilio_standin, "SMS")
    done = await messaging_campaign(client, fast, leads(3), name="Sent one")
    await act(client, "startCampaign", done["id"])
    await wait_until(client, done["id"], "COMPLETED")
    await set_counters(stack, done["id"], total_delivered=3, total_replied=1)
    slow = await twilio_channel_for(client, twilio_standin, "SMS", code="slow", rateLimit=1)
    watched = await messaging_campaign(client, slow, leads(6, start=10), name="<b>Slow</b>")
    first = (await campaign_leads(client, watched["id"]))[0]

    page = await open_dashboard(browser, stack, client.key)
    done_row, row = page.locator(f"#c-{done['id']}"), page.locator(f"#c-{watched['id']}")
    await expect(done_row.locator(".feedback")).to_have_text("3 delivered · 0 read · 1 replied")
    await expect(done_row.locator(".ratios")).to_have_text("33.33% · 0.00%")
    await expect(done_row.locator(".enabled")).to_be_disabled()  # completed: nothing to switch
    await expect(row.locator(".name")).to_have_text("<b>Slow</b>")  # as text, not HTML
    await expect(row.locator(".enabled")).not_to_be_checked()

    await row.locator("button[data-leads]").click()
    await expect(page.locator("#leads-name")).to_have_text("<b>Slow</b>")
    table = page.locator("#leads-table tbody tr")
    await expect(table).to_have_count(6)
    lead_row = page.locator(f"#l-{first['id']}")
    await expect(lead_row.locator(".phone")).to_have_text("+14155550010")
    await expect(lead_row.locator(".lead-status")).to_have_text("PENDING")

    await row.locator(".enabled").click()  # on: starts it
    await expect(lead_row.locator(".lead-status")).to_have_text("SENT", timeout=15_000)
    await expect(row.locator(".enabled")).to_be_checked()
    await row.locator(".enabled").click()  # off: pauses it
    await expect(row.locator(".status")).to_have_text("PAUSED")
    assert await status_of(client, watched["id"]) == "PAUSED"
    await asyncio.sleep(1.5)  # a batch under way when it paused is still recorded
    at_pause = len(twilio_standin.control.messages())
    await asyncio.sleep(2.5)
    assert len(twilio_standin.control.messages()) == at_pause < 3 + 6  # it stopped short
    await expect(page.locator("#leads-table .lead-status", has_text="PENDING")).not_to_have_count(0)

    # A status callback's change, announced after its commit, shows at once.
    await mark_delivered(stack, first["id"])
    async with stack_redis(stack) as redis:
        changed = {pk_of(watched["id"], "Campaign"): [pk_of(first["id"], "Lead")]}
        await announce(stack.server.db, redis, client.account_id, changed)
        await expect(lead_row.locator(".lead-status")).to_have_text("DELIVERED")
        await expect(row.locator(".feedback")).to_have_text("1 delivered · 0 read · 0 replied")

    await row.locator(".enabled").click()  # on again: resumes it
    await expect(row.locator(".status")).to_have_text("COMPLETED", timeout=30_000)
    await expect(page.locator("#leads-table .lead-status", has_text="PENDING")).to_have_count(0)
    statuses = await page.locator("#leads-table .lead-status").all_text_contents()
    assert sorted(statuses) == ["DELIVERED", *["SENT"] * 5]
    assert len(twilio_standin.control.messages()) == 3 + 6
    await page.screenshot(path=str(tmp_path / "dashboard-leads.png"), full_page=True)
