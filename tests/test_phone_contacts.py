"""Contacts by phone over the HTTP API: phone-only contacts, E.164 normalisation, unique by
phone, importContacts matching by email else phone (and its refusals), email campaigns that
skip phone-only members, concurrent imports; and ensure_contacts_by_phone, the bulk use
case lead imports call."""

import asyncio
import random
import time
from typing import Any

import pytest
from sqlalchemy import select

from db.enums import ContactSource
from db.errors import DomainError, ErrorCode
from db.models import Contact, Delivery
from db.usecases.contacts_by_phone import ensure_contacts_by_phone
from tests.support import GraphQLClient, make_channel, make_email_campaign, pk_of

FIELDS = "id email phone whatsapp country source tags"
P1, P2, P3 = "+14155550123", "+14155550124", "+14155550125"


def errors_of(payload: dict[str, Any]) -> list[tuple[list[str] | None, str, str]]:
    return [(e["field"], e["code"], e["message"]) for e in payload["userErrors"]]


async def create(client: GraphQLClient, **fields: Any) -> dict[str, Any]:
    payload = await client.mutate("createContact", fields, f"contact {{ {FIELDS} }}")
    assert payload["userErrors"] == [], payload["userErrors"]
    contact: dict[str, Any] = payload["contact"]
    return contact


async def import_rows(client: GraphQLClient, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return await client.mutate("importContacts", {"contacts": rows}, "createdCount updatedCount")


async def stored(client: GraphQLClient) -> list[tuple[str | None, str | None, str, str]]:
    """(email, phone, first name, whatsapp) of every contact of the account, sorted."""
    async with client.server.db.read() as session:
        rows = await session.execute(
            select(Contact.email, Contact.phone, Contact.first_name, Contact.whatsapp).where(
                Contact.account_id == client.account_id
            )
        )
        return sorted(((r[0], r[1], r[2], r[3]) for r in rows), key=str)


# ------------------------------------------------------------------ create and update


async def test_phone_only_contact_national_form_read_with_its_country(
    client: GraphQLClient,
) -> None:
    contact = await create(
        client, phone="(415) 555-0123", whatsapp="415.555.0124", country="US", tags=["sms"]
    )
    del contact["id"]
    assert contact == {
        "email": None,
        "phone": P1,
        "whatsapp": P2,
        "country": "US",
        "source": "UNKNOWN",
        "tags": ["sms"],
    }
    assert await stored(client) == [(None, P1, "", P2)]
    data = await client.gql('{ contacts(filter: {q: "4155550123"}) { edges { node { phone } } } }')
    assert data == {"contacts": {"edges": [{"node": {"phone": P1}}]}}


async def test_update_reads_a_national_number_with_the_stored_country(
    client: GraphQLClient,
) -> None:
    contact = await create(client, email="ann@example.test", country="GB")
    payload = await client.mutate(
        "updateContact",
        {"id": contact["id"], "phone": "07911 123456", "whatsapp": "+1 (415) 555-0123"},
        "contact { phone whatsapp }",
    )
    assert payload == {
        "contact": {"phone": "+447911123456", "whatsapp": P1},
        "userErrors": [],
    }
    # The country given with it wins over the stored one.
    payload = await client.mutate(
        "updateContact",
        {"id": contact["id"], "phone": "(415) 555-0124", "country": "US"},
        "contact { phone country }",
    )
    assert payload == {"contact": {"phone": P2, "country": "US"}, "userErrors": []}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, [(["email"], "REQUIRED", "A contact needs an email or a phone number.")]),
        (
            {"email": "", "phone": "", "firstName": "Ann"},
            [(["email"], "REQUIRED", "A contact needs an email or a phone number.")],
        ),
        (
            {"phone": "4155550123"},
            [
                (
                    ["phone"],
                    "INVALID",
                    "phone needs a country code (such as +1) or the contact's country.",
                )
            ],
        ),
        (
            {"phone": "+15551234567"},
            [(["phone"], "INVALID", "phone is not a valid number for country code +1.")],
        ),
        (
            {"phone": "+1 " + "5" * 40},
            [(["phone"], "TOO_LONG", "phone must be at most 32 characters.")],
        ),
        (
            {"email": "ann@example.test", "whatsapp": "07911 123456", "country": "G1"},
            [
                (
                    ["whatsapp"],
                    "INVALID",
                    "whatsapp needs a country code (such as +1) or the contact's country.",
                ),
                (["country"], "INVALID", "country must be a 2-letter ISO 3166 code such as US."),
            ],
        ),
    ],
)
async def test_create_refused(
    client: GraphQLClient, fields: dict[str, Any], expected: list[tuple[list[str], str, str]]
) -> None:
    before = await client.snapshot()
    payload = await client.mutate("createContact", fields, "contact { id }")
    assert payload["contact"] is None
    assert errors_of(payload) == expected
    assert await client.snapshot() == before


async def test_phone_is_unique_in_the_account(client: GraphQLClient, new_client: Any) -> None:
    await create(client, phone=P1)
    ann = await create(client, email="ann@example.test", phone=P2)
    before = await client.snapshot()
    taken = [(["phone"], "DUPLICATE", "A contact with this phone number exists.")]
    payload = await client.mutate("createContact", {"phone": "+1 415-555-0123"}, "contact { id }")
    assert (payload["contact"], errors_of(payload)) == (None, taken)
    payload = await client.mutate(
        "updateContact",
        {"id": ann["id"], "phone": "(415) 555 0123", "country": "US"},
        "contact { id }",
    )
    assert (payload["contact"], errors_of(payload)) == (None, taken)
    assert await client.snapshot() == before
    # Another account may have the same number.
    other = await new_client("Other")
    assert (await create(other, phone=P1))["phone"] == P1


async def test_update_removes_an_email_or_a_phone_but_not_both(client: GraphQLClient) -> None:
    ann = await create(client, email="ann@example.test", phone=P1)
    payload = await client.mutate(
        "updateContact", {"id": ann["id"], "email": ""}, "contact { email phone }"
    )
    assert payload == {"contact": {"email": None, "phone": P1}, "userErrors": []}
    before = await client.snapshot()
    payload = await client.mutate("updateContact", {"id": ann["id"], "phone": ""}, "contact { id }")
    assert payload["contact"] is None
    assert errors_of(payload) == [
        (["email"], "REQUIRED", "A contact needs an email or a phone number.")
    ]
    assert await client.snapshot() == before
    # With an email again, the phone may go; the freed number is anyone's.
    payload = await client.mutate(
        "updateContact",
        {"id": ann["id"], "email": "Ann@example.test", "phone": ""},
        "contact { email phone }",
    )
    assert payload == {"contact": {"email": "ann@example.test", "phone": ""}, "userErrors": []}
    assert (await create(client, phone=P1))["email"] is None


# ------------------------------------------------------------------ importContacts


async def test_import_phone_only_rows_twice_updates(client: GraphQLClient) -> None:
    rows: list[dict[str, Any]] = [
        {"phone": "+1 415 555 0123", "firstName": "A", "tags": ["sms"]},
        {"phone": "(415) 555-0124", "country": "US", "tags": ["sms"]},
        {"email": "cat@example.test", "phone": "+447911123456"},
    ]
    payload = await import_rows(client, rows)
    assert payload == {"createdCount": 3, "updatedCount": 0, "userErrors": []}
    first = await stored(client)
    assert first == [
        ("cat@example.test", "+447911123456", "", ""),
        (None, P1, "A", ""),
        (None, P2, "", ""),
    ]
    # The same numbers written otherwise name the same contacts.
    again: list[dict[str, Any]] = [
        {"phone": "+14155550123", "firstName": "Ann", "tags": ["new"]},
        {"phone": "+1-415-555-0124"},
        {"phone": "+44 7911 123456", "firstName": "Cat"},
    ]
    payload = await import_rows(client, again)
    assert payload == {"createdCount": 0, "updatedCount": 3, "userErrors": []}
    assert await stored(client) == [
        ("cat@example.test", "+447911123456", "Cat", ""),
        (None, P1, "Ann", ""),
        (None, P2, "", ""),
    ]
    data = await client.gql('{ contacts(filter: {tags: ["new", "sms"]}) { totalCount } }')
    assert data == {"contacts": {"totalCount": 2}}


async def test_import_gives_a_phone_only_contact_the_rows_email(client: GraphQLClient) -> None:
    lead = await create(client, phone=P1, firstName="Lead")
    payload = await import_rows(
        client, [{"email": "Ann@Example.test", "phone": "+1 (415) 555-0123", "lastName": "S"}]
    )
    assert payload == {"createdCount": 0, "updatedCount": 1, "userErrors": []}
    payload = await client.mutate(
        "updateContact", {"id": lead["id"]}, "contact { email phone firstName lastName }"
    )
    assert payload["contact"] == {
        "email": "ann@example.test",
        "phone": P1,
        "firstName": "Lead",
        "lastName": "S",
    }
    # A row's empty email or phone is "not given": nothing stored is removed.
    payload = await import_rows(client, [{"email": "ann@example.test", "phone": ""}])
    assert payload == {"createdCount": 0, "updatedCount": 1, "userErrors": []}
    payload = await import_rows(client, [{"email": "", "phone": P1}])
    assert payload == {"createdCount": 0, "updatedCount": 1, "userErrors": []}
    assert await stored(client) == [("ann@example.test", P1, "Lead", "")]


async def test_import_bad_numbers_are_per_row_errors(client: GraphQLClient) -> None:
    await create(client, email="kept@example.test", phone=P1)
    before = await client.snapshot()
    payload = await import_rows(
        client,
        [
            {"email": "ok@example.test", "phone": "+1 415 555 0199"},
            {"phone": "4155550123"},
            {"email": "b@example.test", "phone": "+1 800 FLOWERS"},
            {"phone": "(415) 555-0123", "country": "US"},  # the kept contact: fine
            {"email": "c@example.test", "whatsapp": "+15551234567"},
            {"phone": "+1415555012\n3"},
            {"firstName": "Nobody"},
        ],
    )
    assert (payload["createdCount"], payload["updatedCount"]) == (0, 0)
    assert [(e[0], e[1]) for e in errors_of(payload)] == [
        (["contacts", "1", "phone"], "INVALID"),
        (["contacts", "2", "phone"], "INVALID"),
        (["contacts", "4", "whatsapp"], "INVALID"),
        (["contacts", "5", "phone"], "INVALID"),
        (["contacts", "6", "email"], "REQUIRED"),
    ]
    assert errors_of(payload)[1][2] == (
        "phone is not a phone number: only digits, spaces, - . / ( ) and a leading + are "
        "allowed (no letters or extensions)."
    )
    assert await client.snapshot() == before


async def test_import_refuses_rows_naming_two_contacts(client: GraphQLClient) -> None:
    await create(client, email="ann@example.test", phone=P1)
    await create(client, email="bob@example.test", phone=P2)
    await create(client, phone=P3)
    before = await client.snapshot()
    payload = await import_rows(
        client,
        [
            # Email of ann, phone of bob.
            {"email": "ann@example.test", "phone": "+1 415 555 0124"},
            # A new email with ann's phone: that phone is another email's contact.
            {"email": "new@example.test", "phone": P1},
            # The same number twice, written differently.
            {"phone": "+1 (415) 555-0199"},
            {"phone": "+14155550199"},
        ],
    )
    assert (payload["createdCount"], payload["updatedCount"]) == (0, 0)
    assert errors_of(payload) == [
        (
            ["contacts", "3", "phone"],
            "DUPLICATE",
            "The same phone number appears twice in this import.",
        ),
    ]
    payload = await import_rows(
        client,
        [
            {"email": "ann@example.test", "phone": "+1 415 555 0125"},  # ann, the phone-only
            {"email": "new@example.test", "phone": P1},
            {"email": "bob@example.test"},
            {"phone": P2},  # bob again, by his phone
            {"email": "cat@example.test", "phone": "+14155550199"},  # new: fine
        ],
    )
    assert errors_of(payload) == [
        (
            ["contacts", "0", "phone"],
            "DUPLICATE",
            "This phone number belongs to another contact than this email.",
        ),
        (
            ["contacts", "1", "phone"],
            "DUPLICATE",
            "This phone number belongs to another contact than this email (ann@example.test).",
        ),
        (["contacts", "3", "phone"], "DUPLICATE", "Another row names this contact."),
    ]
    assert await client.snapshot() == before


# ------------------------------------------------------------------ email campaigns


async def test_email_campaign_skips_phone_only_members(client: GraphQLClient) -> None:
    await make_channel(client)
    await import_rows(
        client,
        [
            {"email": "ann@example.test", "phone": P1, "tags": ["vip"]},
            {"phone": P2, "tags": ["vip"]},
            {"phone": P3, "tags": ["vip"], "marketingConsent": {"email": False}},
            {"email": "dan@example.test", "tags": ["vip"], "marketingConsent": {"email": False}},
            {"email": "eve@example.test", "tags": ["vip"]},
        ],
    )
    campaign = await make_email_campaign(client)
    audience = await client.gql(
        "query($id: ID!) { node(id: $id) { ... on Audience { reachableCount } } }",
        {"id": campaign["audience"]["id"]},
    )
    assert audience == {"node": {"reachableCount": 2}}
    payload = await client.mutate(
        "startCampaign",
        {"id": campaign["id"]},
        "campaign { status execution { totalContacts totalSkipped } }",
    )
    assert payload == {
        "campaign": {"status": "RUNNING", "execution": {"totalContacts": 2, "totalSkipped": 3}},
        "userErrors": [],
    }
    async with client.server.db.read() as session:
        rows = await session.execute(
            select(Delivery.address).where(
                Delivery.campaign_id == pk_of(campaign["id"], "Campaign")
            )
        )
        assert sorted(r[0] for r in rows) == ["ann@example.test", "eve@example.test"]


async def test_email_campaign_of_phone_only_members_is_empty(client: GraphQLClient) -> None:
    await make_channel(client)
    await import_rows(client, [{"phone": P1, "tags": ["vip"]}, {"phone": P2, "tags": ["vip"]}])
    campaign = await make_email_campaign(client)
    before = await client.snapshot()
    payload = await client.mutate("startCampaign", {"id": campaign["id"]}, "campaign { id }")
    assert payload["campaign"] is None
    assert errors_of(payload) == [
        (
            ["audience"],
            "EMPTY_AUDIENCE",
            f"Audience {campaign['audience']['code']!r} has no contact with an email and "
            "email consent (2 without either).",
        )
    ]
    assert await client.snapshot() == before


# ------------------------------------------------------------------ concurrency

CONCURRENT = 6


async def test_concurrent_imports_of_the_same_numbers_make_one_contact_each(
    client: GraphQLClient,
) -> None:
    numbers = [f"+1415555{n:04d}" for n in range(200)]
    orders = [random.Random(seed).sample(numbers, len(numbers)) for seed in range(CONCURRENT)]
    inputs = []
    for seed, order in enumerate(orders):
        # Written differently by each import; some rows carry an email.
        rows: list[dict[str, Any]] = [
            {"phone": f"+1 ({n[2:5]}) {n[5:8]}-{n[8:]}" if seed % 2 else n, "tags": ["lead"]}
            for n in order
        ]
        for row, n in zip(rows[::5], order[::5], strict=True):
            row["email"] = f"{n[1:]}@example.test"
        inputs.append({"contacts": rows})
    payloads = await asyncio.gather(
        *(client.mutate("importContacts", i, "createdCount updatedCount") for i in inputs)
    )
    assert [p["userErrors"] for p in payloads] == [[]] * CONCURRENT
    assert sum(p["createdCount"] for p in payloads) == len(numbers)
    contacts = await stored(client)
    assert sorted(c[1] or "" for c in contacts) == sorted(numbers)
    emailed = {n for order in orders for n in order[::5]}
    assert sorted((c[1] or "", c[0]) for c in contacts) == [
        (n, f"{n[1:]}@example.test" if n in emailed else None) for n in sorted(numbers)
    ]


async def test_concurrent_creates_of_one_number_give_one_contact_and_duplicates(
    client: GraphQLClient,
) -> None:
    forms = ["+14155550123", "+1 415 555 0123", "+1 (415) 555-0123", "+1-415-555-0123"]
    payloads = await asyncio.gather(
        *(
            client.mutate("createContact", {"phone": forms[n % len(forms)]}, "contact { phone }")
            for n in range(CONCURRENT * 2)
        )
    )
    won = [p for p in payloads if not p["userErrors"]]
    assert [p["contact"] for p in won] == [{"phone": P1}]
    for lost in (p for p in payloads if p["userErrors"]):
        assert errors_of(lost) == [
            (["phone"], "DUPLICATE", "A contact with this phone number exists.")
        ]
    assert await stored(client) == [(None, P1, "", "")]


# ------------------------------------------------------------------ ensure_contacts_by_phone


async def test_ensure_contacts_by_phone_finds_and_creates(client: GraphQLClient) -> None:
    ann = await create(client, email="ann@example.test", phone=P1)
    async with client.server.db.write() as session:
        ids = await ensure_contacts_by_phone(session, client.account_id, [P2, P1, P2, P3])
    assert set(ids) == {P1, P2, P3}
    assert ids[P1] == pk_of(ann["id"], "Contact")
    async with client.server.db.read() as session:
        rows = await session.execute(
            select(Contact.id, Contact.phone, Contact.email, Contact.source).where(
                Contact.account_id == client.account_id
            )
        )
        assert sorted(tuple(r) for r in rows) == sorted(
            [
                (ids[P1], P1, "ann@example.test", ContactSource.UNKNOWN),
                (ids[P2], P2, None, ContactSource.LEAD),
                (ids[P3], P3, None, ContactSource.LEAD),
            ]
        )
    async with client.server.db.write() as session:
        assert await ensure_contacts_by_phone(session, client.account_id, [P3, P1]) == {
            P1: ids[P1],
            P3: ids[P3],
        }
        assert await ensure_contacts_by_phone(session, client.account_id, []) == {}


@pytest.mark.parametrize(
    ("numbers", "expected"),
    [
        ([P1, "4155550123", "+1 415 555 0124"], [("numbers", "1"), ("numbers", "2")]),
        ([P1, f"{P2}\n"], [("numbers", "1")]),
        ([P1] * 10_001, [("numbers",)]),
    ],
)
async def test_ensure_contacts_by_phone_refuses(
    client: GraphQLClient, numbers: list[str], expected: list[tuple[str, ...]]
) -> None:
    before = await client.snapshot()
    with pytest.raises(DomainError) as refused:
        async with client.server.db.write() as session:
            await ensure_contacts_by_phone(session, client.account_id, numbers)
    assert [p.field for p in refused.value.problems] == expected
    code = ErrorCode.TOO_MANY if len(numbers) > 10_000 else ErrorCode.INVALID
    assert {p.code for p in refused.value.problems} == {code}
    assert await client.snapshot() == before


async def test_ensure_contacts_by_phone_ten_thousand_at_once(client: GraphQLClient) -> None:
    numbers = [f"+1415555{n:04d}" for n in range(10_000)]
    await create(client, email="ann@example.test", phone=numbers[1234])
    started = time.perf_counter()
    async with client.server.db.write() as session:
        ids = await ensure_contacts_by_phone(session, client.account_id, numbers)
    made_in = time.perf_counter() - started
    assert len(ids) == len(set(ids.values())) == 10_000
    started = time.perf_counter()
    async with client.server.db.write() as session:
        assert await ensure_contacts_by_phone(session, client.account_id, numbers) == ids
    found_in = time.perf_counter() - started
    data = await client.gql("{ contacts { totalCount } }")
    assert data == {"contacts": {"totalCount": 10_000}}
    print(f"\nensure_contacts_by_phone 10,000: create {made_in:.2f}s, again {found_in:.2f}s")


async def test_concurrent_ensure_calls_make_one_contact_per_number(client: GraphQLClient) -> None:
    numbers = [f"+1415777{n:04d}" for n in range(500)]

    async def ensure(seed: int) -> dict[str, int]:
        order = random.Random(seed).sample(numbers, len(numbers))
        async with client.server.db.write() as session:
            return await ensure_contacts_by_phone(session, client.account_id, order)

    # With them, concurrent creates of some of the numbers (which do not take turns).
    maps, creates = await asyncio.gather(
        asyncio.gather(*(ensure(seed) for seed in range(CONCURRENT))),
        asyncio.gather(
            *(client.mutate("createContact", {"phone": n}, "contact { id }") for n in numbers[:20])
        ),
    )
    for payload in creates:
        assert payload["userErrors"] == [] or [
            (e["field"], e["code"]) for e in payload["userErrors"]
        ] == [(["phone"], "DUPLICATE")], payload
    assert all(m == maps[0] for m in maps)
    assert len(set(maps[0].values())) == len(numbers)
    contacts = await stored(client)
    assert sorted(c[1] or "" for c in contacts) == numbers


async def test_import_ten_thousand_phone_only_contacts(client: GraphQLClient) -> None:
    rows = [{"phone": f"+1 (415) 555-{n:04d}", "tags": ["bulk"]} for n in range(10_000)]
    started = time.perf_counter()
    payload = await import_rows(client, rows)
    created_in = time.perf_counter() - started
    assert payload == {"createdCount": 10_000, "updatedCount": 0, "userErrors": []}
    started = time.perf_counter()
    payload = await import_rows(client, rows)
    updated_in = time.perf_counter() - started
    assert payload == {"createdCount": 0, "updatedCount": 10_000, "userErrors": []}
    data = await client.gql('{ contacts(filter: {tags: ["bulk"]}) { totalCount } }')
    assert data == {"contacts": {"totalCount": 10_000}}
    print(f"\nimport 10,000 phone-only contacts: create {created_in:.2f}s, again {updated_in:.2f}s")
