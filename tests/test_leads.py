"""addLeads and removeLeads over real HTTP: E.164, per-row errors, all or nothing,
duplicates, upserts, conversation users, variables, 10,000 in one call, filtering and
pagination, and the campaigns leads cannot be added to."""

import time
from typing import Any

import pytest

from db import models
from db.enums import CampaignStatus, DeliveryStatus
from db.types import utcnow
from tests.messaging_api import (
    add_leads,
    campaign_of,
    created,
    errors_of,
    leads_of,
    make_twilio_channel,
)
from tests.support import GraphQLClient, make_channel, make_email_campaign, pk_of

BODY = {"body": "Hi {{first_name}}, your code is {{code}}."}


def lead(number: str, **variables: Any) -> dict[str, Any]:
    return {
        "phoneNumber": number,
        "customVariables": {"first_name": "Ann", "code": "A1"} | variables,
    }


@pytest.fixture
async def campaign(client: GraphQLClient) -> str:
    await make_twilio_channel(client, "SMS")
    made = await created(client, contentContext=BODY)
    campaign_id: str = made["id"]
    return campaign_id


async def refused(
    client: GraphQLClient, campaign_id: str, rows: list[Any]
) -> list[tuple[list[str] | None, str]]:
    """The refusal's (field, code) pairs, after checking that nothing changed."""
    before = await client.snapshot()
    payload = await add_leads(client, campaign_id, rows)
    assert (payload["leads"], payload["campaign"]) == ([], None)
    assert await client.snapshot() == before
    return errors_of(payload)


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("+14155550101", "+14155550101"),
        ("+1 415-555-0101", "+14155550101"),
        ("+1 (415) 555.0101", "+14155550101"),
        ("+44 20 7183 8750", "+442071838750"),
        ("  +442071838750 ", "+442071838750"),
    ],
)
async def test_numbers_are_stored_in_e164(
    client: GraphQLClient, campaign: str, written: str, stored: str
) -> None:
    payload = await add_leads(client, campaign, [lead(written)])
    assert payload["userErrors"] == []
    assert payload["leads"][0]["phoneNumber"] == stored
    assert payload["leads"][0]["status"] == "PENDING"


@pytest.mark.parametrize(
    "number",
    [
        "4155550101",  # national: no country
        "(415) 555-0101",
        "020 7183 8750",
        "+1415555010",  # too short
        "+1 415 555 0101 ext 2",
        "+1415555O101",  # a letter O
        "+",
        "",
        "+1" + "5" * 40,
        "+1415\n5550101",
        "+14155550101\u202e",
    ],
)
async def test_a_bad_number_is_a_per_row_error(
    client: GraphQLClient, campaign: str, number: str
) -> None:
    rows = [lead(f"+1415555010{i}") for i in range(3)] + [lead(number)]
    assert await refused(client, campaign, rows) == [(["leads", "3", "phoneNumber"], "INVALID")]


async def test_every_bad_row_is_reported(client: GraphQLClient, campaign: str) -> None:
    rows = [
        lead("+14155550101"),
        lead("555"),
        {"phoneNumber": "+14155550103", "customVariables": {"first_name": "Ann"}},
        lead("+14155550101"),
        {"customVariables": {"first_name": "A", "code": "B"}},
    ]
    assert await refused(client, campaign, rows) == [
        (["leads", "1", "phoneNumber"], "INVALID"),
        (["leads", "2", "customVariables"], "REQUIRED"),
        (["leads", "3", "phoneNumber"], "DUPLICATE"),
        (["leads", "4", "phoneNumber"], "INVALID"),
    ]


async def test_duplicates_in_one_call_are_refused_in_any_spelling(
    client: GraphQLClient, campaign: str
) -> None:
    payload = await add_leads(client, campaign, [lead("+14155550101"), lead("+1 415 555 0101")])
    assert errors_of(payload) == [(["leads", "1", "phoneNumber"], "DUPLICATE")]
    assert "lead 0" in payload["userErrors"][0]["message"]


async def test_a_second_call_updates_the_lead(client: GraphQLClient, campaign: str) -> None:
    first = await add_leads(client, campaign, [lead("+14155550101"), lead("+14155550102")])
    assert first["campaign"]["totalLeads"] == 2
    second = await add_leads(client, campaign, [lead("+1 415 555 0101", code="NEW")])
    assert second["userErrors"] == []
    assert second["leads"][0]["id"] == first["leads"][0]["id"]
    assert second["leads"][0]["customVariables"] == {"first_name": "Ann", "code": "NEW"}
    assert second["campaign"]["totalLeads"] == 2
    assert len(await leads_of(client, campaign)) == 2


async def test_missing_and_bad_variables(client: GraphQLClient, campaign: str) -> None:
    missing = await add_leads(
        client, campaign, [{"phoneNumber": "+14155550101", "customVariables": {"code": "1"}}]
    )
    assert errors_of(missing) == [(["leads", "0", "customVariables"], "REQUIRED")]
    assert "first_name" in missing["userErrors"][0]["message"]
    assert await refused(client, campaign, [{"phoneNumber": "+14155550101"}]) == [
        (["leads", "0", "customVariables"], "REQUIRED")
    ]
    cases: list[tuple[dict[str, Any], list[str], str]] = [
        ({"code": ""}, ["code"], "REQUIRED"),
        ({"code": "   "}, ["code"], "REQUIRED"),
        ({"code": 5}, ["code"], "INVALID"),
        ({"code": None}, ["code"], "INVALID"),
        ({"code": ["a"]}, ["code"], "INVALID"),
        ({"code": {"a": "b"}}, ["code"], "INVALID"),
        ({"code": "x" * 1601}, ["code"], "TOO_LONG"),
        ({"code": "a\x1bb"}, ["code"], "INVALID"),
        ({"code": "a\x85b"}, ["code"], "INVALID"),
        ({"9lives": "x"}, ["9lives"], "INVALID"),
        ({"has-dash": "x"}, ["has-dash"], "INVALID"),
        ({"": "x"}, [""], "INVALID"),
        ({"a" * 17: "x"}, ["a" * 17], "INVALID"),
        ({f"k{i}": "x" for i in range(99)}, [], "TOO_MANY"),  # 101 with the two
    ]
    for variables, at, code in cases:
        row = lead("+14155550101", **variables)
        assert await refused(client, campaign, [row]) == [
            (["leads", "0", "customVariables", *at], code)
        ], variables
    not_an_object = {"phoneNumber": "+14155550101", "customVariables": ["first_name"]}
    assert await refused(client, campaign, [not_an_object]) == [
        (["leads", "0", "customVariables"], "INVALID")
    ]
    # At the limits: 100 names, 16 characters, 1,600 characters, a newline on SMS.
    many = {f"k{i}": "x" for i in range(96)} | {"a" * 16: "y" * 1600, "multi": "a\nb"}
    payload = await add_leads(client, campaign, [lead("+14155550101", **many)])
    assert payload["userErrors"] == []
    assert len(payload["leads"][0]["customVariables"]) == 100


async def test_values_whatsapp_refuses_are_refused(client: GraphQLClient) -> None:
    """Meta refuses newlines, tabs and more than 4 spaces in a row in a variable's value:
    such a lead would fail at sending, so addLeads refuses it (SMS takes them)."""
    await make_twilio_channel(client, "WHATSAPP")
    made = await created(
        client, channel="whatsapp", contentContext={"body": "Hi {{first_name}}, welcome."}
    )
    for value in ("A\nB", "A\tB", "A\r\nB", "A     B"):
        row = {"phoneNumber": "+14155550101", "customVariables": {"first_name": value}}
        assert await refused(client, made["id"], [row]) == [
            (["leads", "0", "customVariables", "first_name"], "INVALID")
        ], value
    row = {"phoneNumber": "+14155550101", "customVariables": {"first_name": "A    B"}}
    assert (await add_leads(client, made["id"], [row]))["userErrors"] == []

    await make_twilio_channel(client, "SMS")
    sms = await created(client, contentContext={"body": "Hi {{first_name}}"})
    row = {"phoneNumber": "+14155550101", "customVariables": {"first_name": "A\r\n\tB     C"}}
    assert (await add_leads(client, sms["id"], [row]))["userErrors"] == []


async def test_conversation_users(client: GraphQLClient, new_client: Any, campaign: str) -> None:
    ids = []
    for contact in (
        {"phone": "+14155550201", "firstName": "Ann"},
        {"email": "bob@example.test", "firstName": "Bob"},  # no number
    ):
        payload = await client.mutate("createContact", contact, "contact { id }")
        assert payload["userErrors"] == [], payload
        ids.append(payload["contact"]["id"])
    other = await new_client("Other")
    theirs = await other.mutate("createContact", {"phone": "+14155550203"}, "contact { id }")

    ok = await add_leads(
        client, campaign, [{"conversationUserId": ids[0], "customVariables": {"code": "1"}}]
    )
    assert ok["userErrors"] == []
    assert (ok["leads"][0]["conversationUserId"], ok["leads"][0]["phoneNumber"]) == (
        ids[0],
        "+14155550201",
    )
    for user in (ids[1], theirs["contact"]["id"], "Q29udGFjdDo5OTk5OTk=", "not-an-id"):
        row = {"conversationUserId": user, "customVariables": {"code": "1"}}
        assert await refused(client, campaign, [row]) == [
            (["leads", "0", "conversationUserId"], "NOT_FOUND")
        ], user
    both = {"conversationUserId": ids[0], "phoneNumber": "+14155550201"}
    assert await refused(client, campaign, [both]) == [(["leads", "0", "phoneNumber"], "INVALID")]
    assert await refused(client, campaign, [{}]) == [(["leads", "0", "phoneNumber"], "INVALID")]
    # A conversation user's contact fields count as values: first_name is not needed here.
    again = [{"conversationUserId": ids[0], "customVariables": {"code": "2"}}]
    assert (await add_leads(client, campaign, again))["userErrors"] == []
    assert len(await leads_of(client, campaign)) == 1


async def test_ten_thousand_leads_in_one_call(client: GraphQLClient, campaign: str) -> None:
    rows = [lead(f"+1415{i:07d}") for i in range(2_000_000, 2_010_000)]
    began = time.perf_counter()
    payload = await add_leads(client, campaign, rows)
    took = time.perf_counter() - began
    print(f"\naddLeads: 10,000 leads in {took:.2f} s")
    assert payload["userErrors"] == []
    assert payload["campaign"]["totalLeads"] == 10_000
    assert [row["phoneNumber"] for row in payload["leads"]] == [r["phoneNumber"] for r in rows]
    assert len({row["id"] for row in payload["leads"]}) == 10_000

    one_more = [lead("+14153010000")]
    assert await refused(client, campaign, rows + one_more) == [(["leads"], "TOO_MANY")]


async def test_leads_cannot_join_a_finished_or_email_campaign(client: GraphQLClient) -> None:
    await make_twilio_channel(client, "SMS")
    for status in (CampaignStatus.CANCELLED, CampaignStatus.COMPLETED, CampaignStatus.FAILED):
        made = await created(client, contentContext=BODY, leads=[lead("+14155550101")])
        if status is CampaignStatus.CANCELLED:
            payload = await client.mutate("cancelCampaign", {"id": made["id"]}, "__typename")
            assert payload["userErrors"] == []
        else:  # what a worker leaves when the run ends
            async with client.server.db.write() as session:
                row = await session.get_one(models.Campaign, pk_of(made["id"], "Campaign"))
                row.status = status
        before = await client.snapshot()
        payload = await add_leads(client, made["id"], [lead("+14155550102")])
        assert errors_of(payload) == [(["campaignId"], "INVALID_STATE")]
        assert payload["userErrors"][0]["message"] == (
            f"Leads cannot be added to a {status.value} campaign."
        )
        assert await client.snapshot() == before
    await make_channel(client)
    email = await make_email_campaign(client)
    assert await refused(client, email["id"], [lead("+14155550102")]) == [
        (["campaignId"], "INVALID")
    ]
    payload = await client.mutate(
        "removeLeads", {"campaignId": email["id"], "leadIds": []}, "removedCount"
    )
    assert errors_of(payload) == [(["campaignId"], "INVALID")]


async def test_status_filter_and_pagination(client: GraphQLClient, campaign: str) -> None:
    added = await add_leads(client, campaign, [lead(f"+1415555{i:04d}") for i in range(250)])
    ids = [row["id"] for row in added["leads"]]
    removed = await client.mutate(
        "removeLeads", {"campaignId": campaign, "leadIds": ids[:5]}, "removedCount"
    )
    assert (removed["userErrors"], removed["removedCount"]) == ([], 5)
    everyone = await leads_of(client, campaign)
    assert [row["id"] for row in everyone] == ids[::-1]  # newest first, across 3 pages
    cancelled = await leads_of(client, campaign, ["CANCELLED"])
    assert [row["id"] for row in cancelled] == ids[:5][::-1]
    pending = await leads_of(client, campaign, ["PENDING", "SENT"])
    assert [row["id"] for row in pending] == ids[5:][::-1]
    assert await leads_of(client, campaign, ["OPTED_OUT"]) == []


async def test_remove_and_add_again(client: GraphQLClient, new_client: Any, campaign: str) -> None:
    added = await add_leads(client, campaign, [lead("+14155550101"), lead("+14155550102")])
    first = added["leads"][0]["id"]
    removed = await client.mutate(
        "removeLeads",
        {"campaignId": campaign, "leadIds": [first]},
        "removedCount campaign { totalLeads }",
    )
    assert removed == {"removedCount": 1, "campaign": {"totalLeads": 1}, "userErrors": []}
    by_id = {row["id"]: row for row in await leads_of(client, campaign)}
    assert (by_id[first]["status"], by_id[first]["active"]) == ("CANCELLED", False)
    # Removing it again: nothing was active.
    again = await client.mutate(
        "removeLeads", {"campaignId": campaign, "leadIds": [first]}, "removedCount"
    )
    assert (again["userErrors"], again["removedCount"]) == ([], 0)

    back = await add_leads(client, campaign, [lead("+14155550101")])
    assert back["leads"][0]["id"] == first
    assert (back["leads"][0]["status"], back["leads"][0]["active"]) == ("PENDING", True)
    assert back["campaign"]["totalLeads"] == 2

    # Another campaign's lead, and ids that are not leads.
    other = await created(client, contentContext=BODY, leads=[lead("+14155550109")])
    theirs = (await leads_of(client, other["id"]))[0]["id"]
    for wrong in (theirs, "TGVhZDo5OTk5OTk5", "Q2FtcGFpZ246MQ==", "garbage"):
        before = await client.snapshot()
        payload = await client.mutate(
            "removeLeads", {"campaignId": campaign, "leadIds": [first, wrong]}, "removedCount"
        )
        assert errors_of(payload) == [(["leadIds", "1"], "NOT_FOUND")], wrong
        assert await client.snapshot() == before


async def test_custom_variable_keys_are_the_union(client: GraphQLClient, campaign: str) -> None:
    await add_leads(client, campaign, [lead("+14155550101", zeta="z")])
    payload = await add_leads(client, campaign, [lead("+14155550102", alpha="a")])
    assert payload["campaign"]["customVariableKeys"] == ["alpha", "code", "first_name", "zeta"]
    assert (await campaign_of(client, campaign))["customVariableKeys"] == [
        "alpha",
        "code",
        "first_name",
        "zeta",
    ]


async def test_numbered_variables_take_values(client: GraphQLClient) -> None:
    """Twilio numbers its own templates' variables ({{1}}): a lead gives them by number."""
    await make_twilio_channel(client, "SMS")
    made = await created(client, contentContext={"body": "Hi {{1}}, code {{2}}."})
    assert made["contextVariables"] == ["1", "2"]
    row = {"phoneNumber": "+14155550101", "customVariables": {"1": "Ann", "2": "X9"}}
    payload = await add_leads(client, made["id"], [row])
    assert payload["userErrors"] == []
    assert (await campaign_of(client, made["id"]))["bodyPreview"] == "Hi Ann, code X9."
    for bad in ("01", "0", "1" * 17, "-1"):
        wrong = {"phoneNumber": "+14155550102", "customVariables": {"1": "A", "2": "B", bad: "x"}}
        assert await refused(client, made["id"], [wrong]) == [
            (["leads", "0", "customVariables", bad], "INVALID")
        ], bad


async def test_one_contact_twice_in_a_call_is_a_duplicate(client: GraphQLClient) -> None:
    """A WhatsApp lead by conversation user goes to the contact's WhatsApp number; a lead
    by its phone number is the same contact: one lead each, so the second is refused."""
    await make_twilio_channel(client, "WHATSAPP")
    made = await created(client, channel="whatsapp", contentContext={"body": "Hi there"})
    contact = await client.mutate(
        "createContact",
        {"phone": "+14155550201", "whatsapp": "+14155550299"},
        "contact { id }",
    )
    rows = [{"conversationUserId": contact["contact"]["id"]}, {"phoneNumber": "+14155550201"}]
    assert await refused(client, made["id"], rows) == [(["leads", "1", "phoneNumber"], "DUPLICATE")]
    one = await add_leads(client, made["id"], rows[:1])
    assert [row["phoneNumber"] for row in one["leads"]] == ["+14155550299"]
    # In a later call, the number finds the same contact and updates its lead.
    again = await add_leads(client, made["id"], rows[1:])
    assert again["userErrors"] == []
    assert again["leads"][0]["id"] == one["leads"][0]["id"]
    assert again["campaign"]["totalLeads"] == 1


async def test_leads_added_and_removed_while_running_keep_the_total(
    client: GraphQLClient, campaign: str
) -> None:
    """The execution's total counts the leads to send: the ones left out at start (no
    consent, no value) stay out of it when leads come and go while it runs."""
    contact = await client.mutate(
        "createContact",
        {"phone": "+14155550301", "marketingConsent": {"sms": False}},
        "contact { id }",
    )
    rows = [
        lead("+14155550101"),
        {"conversationUserId": contact["contact"]["id"], "customVariables": {"code": "1"}},
    ]
    assert (await add_leads(client, campaign, rows))["userErrors"] == []
    started = await client.mutate("startCampaign", {"id": campaign}, "campaign { status }")
    assert started["userErrors"] == []

    async def totals() -> tuple[int, int, int]:
        found = await campaign_of(client, campaign)
        execution = found["execution"]
        return found["totalLeads"], execution["totalContacts"], execution["totalSkipped"]

    assert await totals() == (2, 1, 1)
    added = await add_leads(client, campaign, [lead("+14155550102")])
    assert added["userErrors"] == []
    assert await totals() == (3, 2, 1)
    removed = await client.mutate(
        "removeLeads",
        {"campaignId": campaign, "leadIds": [added["leads"][0]["id"]]},
        "removedCount",
    )
    assert removed["removedCount"] == 1
    assert await totals() == (2, 1, 1)
    # A lead already sent stays in the total when it is removed (it was sent).
    sent = [row for row in await leads_of(client, campaign) if row["phoneNumber"] == "+14155550101"]
    async with client.server.db.write() as session:
        row = await session.get_one(models.Delivery, pk_of(sent[0]["id"], "Lead"))
        row.status, row.attempts, row.sent_at = DeliveryStatus.SENT, 1, utcnow()
    removed = await client.mutate(
        "removeLeads", {"campaignId": campaign, "leadIds": [sent[0]["id"]]}, "removedCount"
    )
    assert removed["removedCount"] == 1
    assert await totals() == (1, 1, 1)
    assert [(r["status"], r["active"]) for r in await leads_of(client, campaign, ["SENT"])] == [
        ("SENT", False)
    ]


async def test_leads_added_while_running_are_checked_like_at_start(
    client: GraphQLClient, campaign: str
) -> None:
    """Start leaves out leads without consent or a value; one added to a running (or
    paused) campaign is left out the same way when it is added, and counted."""
    made = []
    for contact in (
        {"phone": "+14155550301", "marketingConsent": {"sms": False}, "firstName": "No"},
        {"phone": "+14155550302"},  # no first_name
        {"phone": "+14155550303", "firstName": "Ok"},
    ):
        payload = await client.mutate("createContact", contact, "contact { id }")
        made.append(payload["contact"]["id"])
    assert (await add_leads(client, campaign, [lead("+14155550101")]))["userErrors"] == []
    started = await client.mutate("startCampaign", {"id": campaign}, "campaign { status }")
    assert started["userErrors"] == []
    rows = [{"conversationUserId": c, "customVariables": {"code": "1"}} for c in made]
    added = await add_leads(client, campaign, rows)
    assert added["userErrors"] == []
    assert [(row["status"], row["errorMessage"]) for row in added["leads"]] == [
        ("OPTED_OUT", "The contact withdrew consent for the channel before the start."),
        ("CANCELLED", "No value for the variable(s) first_name."),
        ("PENDING", None),
    ]
    execution = (await campaign_of(client, campaign))["execution"]
    assert (execution["totalContacts"], execution["totalSkipped"]) == (2, 2)


async def test_upsert_is_by_number_whoever_the_contact(client: GraphQLClient) -> None:
    """A WhatsApp lead by conversation user goes to the contact's WhatsApp number; a later
    lead by that number is the same lead, and a conversation user whose number another
    lead already goes to is refused: one number, one message."""
    await make_twilio_channel(client, "WHATSAPP")
    made = await created(client, channel="whatsapp", contentContext={"body": "Hi there"})
    contact = await client.mutate(
        "createContact", {"phone": "+14155550201", "whatsapp": "+14155550299"}, "contact { id }"
    )
    user = [{"conversationUserId": contact["contact"]["id"]}]
    first = await add_leads(client, made["id"], user)
    contacts = (await client.snapshot())["contacts"]
    again = await add_leads(
        client, made["id"], [{"phoneNumber": "+14155550299", "customVariables": {"x": "1"}}]
    )
    assert again["userErrors"] == []
    assert again["leads"][0]["id"] == first["leads"][0]["id"]
    assert again["leads"][0]["customVariables"] == {"x": "1"}
    assert again["campaign"]["totalLeads"] == 1
    assert (await client.snapshot())["contacts"] == contacts  # no contact made for it

    other = await created(
        client,
        channel="whatsapp",
        contentContext={"body": "Hi there"},
        leads=[{"phoneNumber": "+14155550299"}],  # a new phone-only contact
    )
    assert await refused(client, other["id"], user) == [
        (["leads", "0", "conversationUserId"], "DUPLICATE")
    ]


async def test_an_over_long_status_filter_is_refused(client: GraphQLClient, campaign: str) -> None:
    await add_leads(client, campaign, [lead("+14155550101")])
    query = (
        "query($id: ID!, $status: [LeadStatus!]) { campaign(id: $id) { "
        "leads(first: 10, status: $status) { edges { node { id } } } } }"
    )
    ok = await client.gql(query, {"id": campaign, "status": ["PENDING", "SENT", "PENDING"]})
    assert len(ok["campaign"]["leads"]["edges"]) == 1
    response = await client.raw(query, {"id": campaign, "status": ["PENDING"] * 40_000})
    assert response.status_code == 200
    errors = response.json()["errors"]
    assert [(e["message"], e["extensions"]["code"]) for e in errors] == [
        ("status may hold at most 8 items.", "TOO_MANY")
    ]
