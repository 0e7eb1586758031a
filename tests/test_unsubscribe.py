"""Unsubscribe links: every message's link withdraws exactly its contact's email consent,
by the page's button or an RFC 8058 one-click POST; a forged link changes nothing."""

import httpx

from tests.sending_stack import FINAL_STATUSES, SendingStack, act, campaign_for, stack, wait_until
from tests.smtp_sink import SmtpSink
from tests.support import GraphQLClient

__all__ = ["stack"]


async def consent(client: GraphQLClient) -> dict[str, bool]:
    data = await client.gql(
        "{ contacts(first: 100) { edges { node { email marketingConsent { email } } } } }"
    )
    return {
        e["node"]["email"]: e["node"]["marketingConsent"]["email"]
        for e in data["contacts"]["edges"]
    }


async def test_one_click_unsubscribe(stack: SendingStack, smtp_sink: SmtpSink) -> None:
    client = await stack.client()
    campaign_id = await campaign_for(client, smtp_sink, 3)
    await act(client, "startCampaign", campaign_id)
    await wait_until(client, campaign_id, *FINAL_STATUSES)
    links = {m.rcpt_tos[0]: m.message()["List-Unsubscribe"].strip("<>") for m in smtp_sink.messages}
    ann = "c000001@example.test"

    async with httpx.AsyncClient() as http:
        page = await http.get(links[ann])
        assert page.status_code == 200
        assert ann in page.text
        assert "Acme" in page.text
        assert await consent(client) == dict.fromkeys(links, True)

        forged = links[ann].rsplit(".", 1)[0] + ".AAAAAAAAAAAAAAAAAAAAAA"
        for method in ("GET", "POST"):
            response = await http.request(method, forged)
            assert response.status_code == 404
        assert await consent(client) == dict.fromkeys(links, True)

        done = await http.post(links[ann], data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200
        assert ann in done.text
    assert await consent(client) == {**dict.fromkeys(links, True), ann: False}

    # The next campaign to the same audience leaves the contact out.
    payload = await client.mutate(
        "createEmailCampaign",
        {
            "campaignName": "Again",
            "emailChannel": "main",
            "contactTags": ["vip"],
            "subject": "Again",
            "bodyHtml": "<p>again</p>",
        },
        "campaign { id }",
    )
    again = await client.mutate(
        "startCampaign",
        {"id": payload["campaign"]["id"]},
        "campaign { execution { totalContacts totalSkipped } }",
    )
    assert again["campaign"]["execution"] == {"totalContacts": 2, "totalSkipped": 1}
