"""Save-time checks of templates through the API: every mutation that stores a subject or
body refuses sources that are too long, or that a trial render for a sample contact
shows to be over the render budget (TEMPLATE_TOO_EXPENSIVE on the field); nothing changes
then. Legitimate templates are still accepted."""

from typing import Any

import pytest

from db.validation import MAX_BODY_LENGTH
from tests.support import GraphQLClient, make_channel
from tests.test_audiences_channels_templates import create_template, errors_of, template_input

# One of each kind of hostile template, each refused by a different part of the budget.
HOSTILE = {
    "nested loops": (
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
    ),
    "nested loops in range": (  # every range allowed: only the time budget stops it
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
    ),
    "huge power": "{{ 9**(9**(9**9)) }}",
    "huge repetition": "{{ 'x' * 10**10 }}",
    "deep recursion": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "exponential recursion": (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}"
    ),
    "huge list via filters": "{{ (range(10000) | list) * 10000 }}",
    "huge string via filters": "{{ 'x' | center(10**9) }}",
    "huge output": "{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}",
    "huge format": "{{ '%0999999999d' % 1 }}",
}
LEGIT = {
    "subject": "{{ first_name|default('friend', true)|title }}, {{ 2**10 }} deals in {{ country }}",
    "bodyHtml": (
        "{% macro item(n) %}<li>{{ n }} * {{ 'ab' * 2 }}</li>{% endmacro %}"
        "<p>Hi {{ contact.first_name }} {{ last_name|upper }}</p><ul>"
        "{% for i in range(50) %}{{ item(i) }}{% endfor %}</ul>"
        "{{ ([email, phone, whatsapp] | join(', ')) }} {{ source }} "
        "<a href='{{ unsubscribe_link }}'>Unsubscribe</a>"
    ),
    "bodyText": "{% for i in range(1000) %}{{ '%03d' % i }} {% endfor %}",
}
FIELDS = ("subject", "bodyHtml", "bodyText")


def hostile(field: str, source: str) -> dict[str, str]:
    return {field: source}


@pytest.mark.parametrize("kind", list(HOSTILE))
async def test_create_email_template_refuses_templates_over_budget(
    client: GraphQLClient, kind: str
) -> None:
    before = await client.snapshot()
    for field in FIELDS:
        payload = await client.mutate(
            "createEmailTemplate",
            template_input(**hostile(field, HOSTILE[kind])),
            "emailTemplate { id }",
        )
        assert payload["emailTemplate"] is None, (field, payload)
        assert errors_of(payload) == [([field], "TEMPLATE_TOO_EXPENSIVE")], field
        assert "over the render budget" in payload["userErrors"][0]["message"]
    assert await client.snapshot() == before


async def test_every_field_over_budget_is_named_at_once(client: GraphQLClient) -> None:
    before = await client.snapshot()
    payload = await client.mutate(
        "createEmailTemplate",
        template_input(
            subject="{{ 'x' * 10**10 }}",
            bodyHtml=HOSTILE["nested loops in range"],
            bodyText=HOSTILE["huge output"],
            name="",
        ),
        "emailTemplate { id }",
    )
    assert errors_of(payload) == [
        (["name"], "REQUIRED"),
        (["subject"], "TEMPLATE_TOO_EXPENSIVE"),
        (["bodyHtml"], "TEMPLATE_TOO_EXPENSIVE"),
        (["bodyText"], "TEMPLATE_TOO_EXPENSIVE"),
    ]
    messages = [e["message"] for e in payload["userErrors"][1:]]
    assert "a repetition longer than 1,000,000 items" in messages[0]
    assert "took longer than 1 s" in messages[1]
    assert "body_text renders to more than 1,000,000 characters" in messages[2]
    assert await client.snapshot() == before


@pytest.mark.parametrize("kind", ["nested loops in range", "exponential recursion", "huge power"])
async def test_update_email_template_refuses_templates_over_budget(
    client: GraphQLClient, kind: str
) -> None:
    template = await create_template(client)
    before = await client.snapshot()
    for field in FIELDS:
        payload = await client.mutate(
            "updateEmailTemplate",
            {"id": template["id"], **hostile(field, HOSTILE[kind])},
            "emailTemplate { id }",
        )
        assert payload["emailTemplate"] is None
        assert errors_of(payload) == [([field], "TEMPLATE_TOO_EXPENSIVE")], field
    assert await client.snapshot() == before


@pytest.mark.parametrize("kind", ["nested loops", "huge repetition", "deep recursion"])
async def test_create_email_campaign_refuses_templates_over_budget(
    client: GraphQLClient, kind: str
) -> None:
    await make_channel(client)
    before = await client.snapshot()
    for field in FIELDS:
        input = {
            "campaignName": "Spring sale",
            "emailChannel": "main",
            "contactTags": ["vip"],
            "subject": "Hello",
            "bodyHtml": "<p>Hi</p>",
            **hostile(field, HOSTILE[kind]),
        }
        payload = await client.mutate("createEmailCampaign", input, "campaign { id }")
        assert payload["campaign"] is None
        assert errors_of(payload) == [([field], "TEMPLATE_TOO_EXPENSIVE")], field
    assert await client.snapshot() == before


async def test_sources_have_length_limits(client: GraphQLClient) -> None:
    template = await create_template(client)
    await make_channel(client)
    before = await client.snapshot()
    too_long = "x" * (MAX_BODY_LENGTH + 1)
    attempts: list[tuple[str, dict[str, Any], str]] = [
        ("createEmailTemplate", template_input(bodyHtml=too_long), "emailTemplate { id }"),
        ("createEmailTemplate", template_input(bodyText=too_long), "emailTemplate { id }"),
        (
            "updateEmailTemplate",
            {"id": template["id"], "bodyHtml": too_long},
            "emailTemplate { id }",
        ),
        (
            "updateEmailTemplate",
            {"id": template["id"], "bodyText": too_long},
            "emailTemplate { id }",
        ),
        (
            "createEmailCampaign",
            {
                "campaignName": "c",
                "emailChannel": "main",
                "contactTags": ["vip"],
                "subject": "s" * 256,
                "bodyHtml": too_long,
                "bodyText": too_long,
            },
            "campaign { id }",
        ),
    ]
    expected = [
        [(["bodyHtml"], "TOO_LONG")],
        [(["bodyText"], "TOO_LONG")],
        [(["bodyHtml"], "TOO_LONG")],
        [(["bodyText"], "TOO_LONG")],
        [(["subject"], "TOO_LONG"), (["bodyHtml"], "TOO_LONG"), (["bodyText"], "TOO_LONG")],
    ]
    for (name, input, selection), errors in zip(attempts, expected, strict=True):
        payload = await client.mutate(name, input, selection)
        assert errors_of(payload) == errors, name
    assert await client.snapshot() == before
    # At the limit is fine.
    at_limit = "x" * MAX_BODY_LENGTH
    payload = await client.mutate(
        "updateEmailTemplate",
        {"id": template["id"], "bodyHtml": at_limit, "bodyText": at_limit},
        "emailTemplate { id }",
    )
    assert payload["userErrors"] == []


async def test_legitimate_templates_are_accepted(client: GraphQLClient) -> None:
    template = await create_template(client, **LEGIT)
    payload = await client.mutate(
        "updateEmailTemplate",
        {"id": template["id"], "bodyText": LEGIT["bodyText"] + "{{ 9**9**9**9 > 0 }}"},
        "emailTemplate { bodyText }",
    )
    assert payload["userErrors"] == []
    await make_channel(client)
    input = {"campaignName": "c", "emailChannel": "main", "contactTags": ["vip"], **LEGIT}
    payload = await client.mutate("createEmailCampaign", input, "campaign { id }")
    assert payload["userErrors"] == []
