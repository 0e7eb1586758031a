"""sendTestEmail: one rendered message to one address through a real worker and SMTP server,
changing nothing in the account."""

from typing import Any

from jobs.queue import TEST_EMAIL_WAIT_S
from tests.sending_stack import SendingStack, campaign_for, stack
from tests.smtp_sink import SmtpSink
from tests.support import GraphQLClient, import_contacts, make_channel, make_email_campaign

__all__ = ["stack"]

SELECTION = "messageId"


async def send_test(client: GraphQLClient, campaign_id: str, email: str) -> dict[str, Any]:
    return await client.mutate(
        "sendTestEmail", {"campaignId": campaign_id, "email": email}, SELECTION
    )


async def test_sends_one_rendered_message_and_changes_nothing(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    client = await stack.client()
    campaign_id = await campaign_for(client, smtp_sink, 3)
    await import_contacts(client, [{"email": "Tess@Example.test", "firstName": "Tess"}])
    before = await client.snapshot()

    known = await send_test(client, campaign_id, "tess@example.test")
    unknown = await send_test(client, campaign_id, "nobody@example.test")

    assert known["userErrors"] == unknown["userErrors"] == []
    assert await client.snapshot() == before
    by_recipient = {m.rcpt_tos[0]: m.message() for m in smtp_sink.messages}
    assert set(by_recipient) == {"tess@example.test", "nobody@example.test"}
    assert by_recipient["tess@example.test"]["Subject"] == "[Test] Hello Tess"
    assert by_recipient["tess@example.test"]["Message-ID"] == known["messageId"]
    assert by_recipient["nobody@example.test"]["Subject"] == "[Test] Hello"
    assert by_recipient["nobody@example.test"]["Message-ID"] == unknown["messageId"]
    assert known["messageId"] != unknown["messageId"]


async def test_refusals_are_user_errors(stack: SendingStack, smtp_sink: SmtpSink) -> None:
    client = await stack.client()
    campaign_id = await campaign_for(client, smtp_sink, 1)
    other = await stack.client("Other")
    before = await client.snapshot()

    assert await send_test(client, campaign_id, "not-an-address") == {
        "messageId": None,
        "userErrors": [
            {
                "field": ["email"],
                "code": "INVALID",
                "message": "email is not a valid email address.",
            }
        ],
    }
    for stranger, target in ((client, "Q2FtcGFpZ246OTk5"), (other, campaign_id)):
        payload = await send_test(stranger, target, "a@example.test")
        assert payload["messageId"] is None
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            ("NOT_FOUND", ["campaignId"])
        ]

    smtp_sink.fail_recipient("gone@example.test", 550, "No such user")
    payload = await send_test(client, campaign_id, "gone@example.test")
    assert payload["messageId"] is None
    assert payload["userErrors"] == [
        {
            "field": None,
            "code": "SEND_FAILED",
            "message": "The server refused it: 550 No such user",
        }
    ]

    smtp_sink.down()
    payload = await send_test(client, campaign_id, "a@example.test")
    assert payload["messageId"] is None
    (error,) = payload["userErrors"]
    assert error["code"] == "SEND_FAILED"
    assert error["message"] == (
        "Could not connect to the channel's SMTP server '127.0.0.1' (connection refused)."
    )

    assert smtp_sink.messages == []
    assert await client.snapshot() == before


async def test_without_a_worker_it_is_send_failed_after_the_wait(client: GraphQLClient) -> None:
    """The `client` fixture's server runs no worker: after TEST_EMAIL_WAIT_S the answer is a
    SEND_FAILED that says so (it was "Unexpected error.", found by the fuzz)."""
    await make_channel(client)
    await import_contacts(client, [{"email": "ann@example.test", "tags": ["vip"]}])
    campaign = await make_email_campaign(client)
    before = await client.snapshot()

    payload = await send_test(client, campaign["id"], "ann@example.test")

    assert payload == {
        "messageId": None,
        "userErrors": [
            {
                "field": None,
                "code": "SEND_FAILED",
                "message": f"No worker sent it within {TEST_EMAIL_WAIT_S:.0f} seconds; "
                "is one running?",
            }
        ],
    }
    assert await client.snapshot() == before
