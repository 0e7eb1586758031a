"""Contacts through the HTTP API: create, update, delete, bulk import, list filters, paging."""

import time
from typing import Any

import pytest

from tests.support import GraphQLClient

CONTACT = (
    "id email firstName lastName phone whatsapp country source tags "
    "marketingConsent { email sms whatsapp } ltv ltvCurrency lastPurchasedAt"
)
ALL_CONSENT = {"email": True, "sms": True, "whatsapp": True}


def errors_of(payload: dict[str, Any]) -> list[tuple[list[str] | None, str]]:
    """(field, code) of each userError, in order; messages must be non-empty."""
    assert all(e["message"] for e in payload["userErrors"]), payload["userErrors"]
    return [(e["field"], e["code"]) for e in payload["userErrors"]]


async def create(client: GraphQLClient, **fields: Any) -> dict[str, Any]:
    payload = await client.mutate("createContact", fields, f"contact {{ {CONTACT} }}")
    assert payload["userErrors"] == [], payload["userErrors"]
    contact: dict[str, Any] = payload["contact"]
    return contact


async def contact_by_email(client: GraphQLClient, email: str) -> dict[str, Any]:
    data = await client.gql(
        f"query($q: String!) {{ contacts(filter: {{q: $q}}, first: 100) "
        f"{{ edges {{ node {{ {CONTACT} }} }} }} }}",
        {"q": email},
    )
    found: list[dict[str, Any]] = [
        e["node"] for e in data["contacts"]["edges"] if e["node"]["email"] == email
    ]
    assert len(found) == 1, data
    return found[0]


async def emails(
    client: GraphQLClient, filter: dict[str, Any] | None = None, **paging: Any
) -> list[str]:
    data = await client.gql(
        "query($f: ContactFilter, $first: Int) { contacts(filter: $f, first: $first) "
        "{ totalCount edges { node { email } } } }",
        {"f": filter, "first": paging.get("first", 100)},
    )
    result = [e["node"]["email"] for e in data["contacts"]["edges"]]
    assert data["contacts"]["totalCount"] == len(result)
    return result


async def import_rows(client: GraphQLClient, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return await client.mutate("importContacts", {"contacts": rows}, "createdCount updatedCount")


# --------------------------------------------------------------------------- createContact


async def test_create_contact_defaults_and_lowercased_email(client: GraphQLClient) -> None:
    contact = await create(client, email="  Ann.Smith@Example.TEST ")
    assert contact.pop("id")
    assert contact == {
        "email": "ann.smith@example.test",
        "firstName": "",
        "lastName": "",
        "phone": "",
        "whatsapp": "",
        "country": "",
        "source": "UNKNOWN",
        "tags": [],
        "marketingConsent": ALL_CONSENT,
        "ltv": "0.00",
        "ltvCurrency": "USD",
        "lastPurchasedAt": None,
    }


async def test_create_contact_with_every_field(client: GraphQLClient) -> None:
    contact = await create(
        client,
        email="bob@example.test",
        firstName="B" * 100,
        lastName="Builder",
        phone="+14155550123",
        whatsapp="+447911123456",
        country="GB",
        source="LEAD",
        tags=["vip", " news ", "vip"],
        marketingConsent={"sms": False},
    )
    del contact["id"]
    assert contact == {
        "email": "bob@example.test",
        "firstName": "B" * 100,
        "lastName": "Builder",
        "phone": "+14155550123",
        "whatsapp": "+447911123456",
        "country": "GB",
        "source": "LEAD",
        "tags": ["news", "vip"],
        "marketingConsent": {"email": True, "sms": False, "whatsapp": True},
        "ltv": "0.00",
        "ltvCurrency": "USD",
        "lastPurchasedAt": None,
    }


@pytest.mark.parametrize("email", ["ann@example.test", "ANN@Example.Test", "  ann@EXAMPLE.test  "])
async def test_create_contact_duplicate_email_case_insensitive(
    client: GraphQLClient, email: str
) -> None:
    await create(client, email="ann@example.test")
    before = await client.snapshot()
    payload = await client.mutate("createContact", {"email": email}, "contact { id }")
    assert payload["contact"] is None
    assert errors_of(payload) == [(["email"], "DUPLICATE")]
    assert await client.snapshot() == before


OK = "ok@example.test"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, [(["email"], "REQUIRED")]),
        ({"email": ""}, [(["email"], "REQUIRED")]),
        ({"email": "not-an-email"}, [(["email"], "INVALID")]),
        ({"email": "ann@"}, [(["email"], "INVALID")]),
        ({"email": "ann@example"}, [(["email"], "INVALID")]),
        ({"email": OK, "phone": "4155550123"}, [(["phone"], "INVALID")]),
        ({"email": OK, "phone": "+0155550123"}, [(["phone"], "INVALID")]),
        ({"email": OK, "phone": "+1 415 555 0123 ext 5"}, [(["phone"], "INVALID")]),
        ({"email": OK, "phone": "+1 800 FLOWERS"}, [(["phone"], "INVALID")]),
        ({"email": OK, "whatsapp": "0044 7700 900123"}, [(["whatsapp"], "INVALID")]),
        ({"email": OK, "whatsapp": "+1234567890123456"}, [(["whatsapp"], "INVALID")]),
        ({"email": OK, "country": "USA"}, [(["country"], "INVALID")]),
        ({"email": OK, "country": "U"}, [(["country"], "INVALID")]),
        ({"email": OK, "country": "U1"}, [(["country"], "INVALID")]),
        ({"email": OK, "firstName": "x" * 101}, [(["firstName"], "TOO_LONG")]),
        ({"email": OK, "lastName": "x" * 101}, [(["lastName"], "TOO_LONG")]),
        ({"email": OK, "tags": [f"t{i}" for i in range(51)]}, [(["tags"], "TOO_MANY")]),
        ({"email": OK, "tags": ["ok", "  "]}, [(["tags"], "INVALID")]),
        ({"email": OK, "tags": ["x" * 101]}, [(["tags"], "TOO_LONG")]),
        # Header injection and other control characters, refused whole (fullmatch).
        ({"email": "ann@example.test\nbcc: eve@evil.test"}, [(["email"], "INVALID")]),
        ({"email": "ann@exam ple.test"}, [(["email"], "INVALID")]),
        ({"email": "a" * 250 + "@b.test"}, [(["email"], "TOO_LONG")]),
        ({"email": OK, "firstName": "Ann\n"}, [(["firstName"], "INVALID")]),
        ({"email": OK, "firstName": "Ann\r\nBcc: eve@evil.test"}, [(["firstName"], "INVALID")]),
        ({"email": OK, "lastName": "Lee\u2028"}, [(["lastName"], "INVALID")]),
        ({"email": OK, "lastName": "Lee\x1b"}, [(["lastName"], "INVALID")]),
        ({"email": OK, "lastName": "Lee\x85"}, [(["lastName"], "INVALID")]),
        ({"email": OK, "tags": ["v\nip"]}, [(["tags"], "INVALID")]),
        ({"email": OK, "phone": "+14155550123\n"}, [(["phone"], "INVALID")]),
        ({"email": OK, "country": "US\n"}, [(["country"], "INVALID")]),
        (
            {
                "email": "bad",
                "firstName": "x" * 101,
                "lastName": "y" * 101,
                "phone": "12",
                "whatsapp": "+",
                "country": "USA",
            },
            [
                (["email"], "INVALID"),
                (["firstName"], "TOO_LONG"),
                (["lastName"], "TOO_LONG"),
                (["phone"], "INVALID"),
                (["whatsapp"], "INVALID"),
                (["country"], "INVALID"),
            ],
        ),
    ],
)
async def test_create_contact_invalid(
    client: GraphQLClient, fields: dict[str, Any], expected: list[tuple[list[str], str]]
) -> None:
    before = await client.snapshot()
    payload = await client.mutate("createContact", fields, "contact { id }")
    assert payload["contact"] is None
    assert errors_of(payload) == expected
    assert await client.snapshot() == before


# --------------------------------------------------------------------------- updateContact


async def test_update_contact_is_partial(client: GraphQLClient) -> None:
    contact = await create(
        client,
        email="ann@example.test",
        firstName="Ann",
        lastName="Smith",
        phone="+14155550123",
        country="US",
        source="PURCHASE",
        tags=["a", "b"],
    )
    payload = await client.mutate(
        "updateContact", {"id": contact["id"], "lastName": "Jones"}, f"contact {{ {CONTACT} }}"
    )
    assert payload["userErrors"] == []
    assert payload["contact"] == {**contact, "lastName": "Jones"}
    # null means "leave as is" too
    payload = await client.mutate(
        "updateContact",
        {"id": contact["id"], "firstName": None, "tags": None, "phone": ""},
        f"contact {{ {CONTACT} }}",
    )
    assert payload["userErrors"] == []
    assert payload["contact"] == {**contact, "lastName": "Jones", "phone": ""}
    assert await contact_by_email(client, "ann@example.test") == payload["contact"]


async def test_update_contact_tags_are_replaced(client: GraphQLClient) -> None:
    contact = await create(client, email="ann@example.test", tags=["a", "b"])
    payload = await client.mutate(
        "updateContact", {"id": contact["id"], "tags": ["c", "a"]}, "contact { tags }"
    )
    assert payload == {"contact": {"tags": ["a", "c"]}, "userErrors": []}
    payload = await client.mutate(
        "updateContact", {"id": contact["id"], "tags": []}, "contact { tags }"
    )
    assert payload == {"contact": {"tags": []}, "userErrors": []}
    assert await emails(client, {"tags": ["a", "b", "c"]}) == []


async def test_update_contact_consent_partial(client: GraphQLClient) -> None:
    contact = await create(client, email="ann@example.test")
    select = "contact { marketingConsent { email sms whatsapp } }"
    payload = await client.mutate(
        "updateContact", {"id": contact["id"], "marketingConsent": {"sms": False}}, select
    )
    assert payload["contact"]["marketingConsent"] == {"email": True, "sms": False, "whatsapp": True}
    payload = await client.mutate(
        "updateContact", {"id": contact["id"], "marketingConsent": {"email": False}}, select
    )
    assert payload["contact"]["marketingConsent"] == {
        "email": False,
        "sms": False,
        "whatsapp": True,
    }
    payload = await client.mutate(
        "updateContact",
        {"id": contact["id"], "marketingConsent": {"whatsapp": None, "sms": True}},
        select,
    )
    assert payload["contact"]["marketingConsent"] == {"email": False, "sms": True, "whatsapp": True}


async def test_update_contact_email(client: GraphQLClient) -> None:
    ann = await create(client, email="ann@example.test")
    await create(client, email="bob@example.test")
    before = await client.snapshot()
    for taken in ("bob@example.test", "BOB@example.test "):
        payload = await client.mutate(
            "updateContact", {"id": ann["id"], "email": taken}, "contact { id }"
        )
        assert payload["contact"] is None
        assert errors_of(payload) == [(["email"], "DUPLICATE")]
        assert await client.snapshot() == before
    # Its own address in another case is not a duplicate; a new one is stored lowercased.
    payload = await client.mutate(
        "updateContact", {"id": ann["id"], "email": "ANN@example.test"}, "contact { email }"
    )
    assert payload == {"contact": {"email": "ann@example.test"}, "userErrors": []}
    payload = await client.mutate(
        "updateContact", {"id": ann["id"], "email": "Anna@Example.test"}, "contact { email }"
    )
    assert payload == {"contact": {"email": "anna@example.test"}, "userErrors": []}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"email": ""}, [(["email"], "REQUIRED")]),
        ({"email": "nope"}, [(["email"], "INVALID")]),
        ({"phone": "555"}, [(["phone"], "INVALID")]),
        ({"whatsapp": "+1-415"}, [(["whatsapp"], "INVALID")]),
        ({"country": "DEU"}, [(["country"], "INVALID")]),
        (
            {"firstName": "x" * 101, "lastName": "x" * 101, "tags": [""]},
            [(["firstName"], "TOO_LONG"), (["lastName"], "TOO_LONG"), (["tags"], "INVALID")],
        ),
    ],
)
async def test_update_contact_invalid(
    client: GraphQLClient, fields: dict[str, Any], expected: list[tuple[list[str], str]]
) -> None:
    contact = await create(client, email="ann@example.test", tags=["a"])
    before = await client.snapshot()
    payload = await client.mutate(
        "updateContact", {"id": contact["id"], **fields}, "contact { id }"
    )
    assert payload["contact"] is None
    assert errors_of(payload) == expected
    assert await client.snapshot() == before


# --------------------------------------------------------------------------- deleteContact


async def test_delete_contact(client: GraphQLClient) -> None:
    ann = await create(client, email="ann@example.test", tags=["vip"])
    bob = await create(client, email="bob@example.test", tags=["vip"])
    payload = await client.mutate("deleteContact", {"id": ann["id"]}, "deletedId")
    assert payload == {"deletedId": ann["id"], "userErrors": []}
    assert await emails(client) == ["bob@example.test"]
    assert await emails(client, {"tags": ["vip"]}) == ["bob@example.test"]
    data = await client.gql("query($id: ID!) { node(id: $id) { id } }", {"id": ann["id"]})
    assert data == {"node": None}

    before = await client.snapshot()
    payload = await client.mutate("deleteContact", {"id": ann["id"]}, "deletedId")
    assert payload["deletedId"] is None
    assert errors_of(payload) == [(["id"], "NOT_FOUND")]
    assert await client.snapshot() == before
    # The address is free again.
    again = await create(client, email="ann@example.test")
    assert again["id"] not in (ann["id"], bob["id"])
    assert again["tags"] == []


# --------------------------------------------------------------------------- importContacts


async def test_import_creates_and_updates_in_one_call(client: GraphQLClient) -> None:
    await create(
        client,
        email="ann@example.test",
        firstName="Ann",
        phone="+14155550123",
        source="LEAD",
        tags=["vip"],
        marketingConsent={"email": False, "whatsapp": False},
    )
    payload = await import_rows(
        client,
        [
            {"email": "ANN@example.test", "lastName": "Smith", "tags": ["new"]},
            {"email": "bob@example.test", "firstName": "Bob", "tags": ["new", "x"]},
            {"email": "cid@example.test", "marketingConsent": {"sms": False}},
        ],
    )
    assert payload == {"createdCount": 2, "updatedCount": 1, "userErrors": []}
    ann = await contact_by_email(client, "ann@example.test")
    bob = await contact_by_email(client, "bob@example.test")
    cid = await contact_by_email(client, "cid@example.test")
    for contact in (ann, bob, cid):
        del contact["id"]
    assert ann == {
        "email": "ann@example.test",
        "firstName": "Ann",
        "lastName": "Smith",
        "phone": "+14155550123",
        "whatsapp": "",
        "country": "",
        "source": "LEAD",
        "tags": ["new", "vip"],
        "marketingConsent": {"email": False, "sms": True, "whatsapp": False},
        "ltv": "0.00",
        "ltvCurrency": "USD",
        "lastPurchasedAt": None,
    }
    assert bob == {
        "email": "bob@example.test",
        "firstName": "Bob",
        "lastName": "",
        "phone": "",
        "whatsapp": "",
        "country": "",
        "source": "UNKNOWN",
        "tags": ["new", "x"],
        "marketingConsent": ALL_CONSENT,
        "ltv": "0.00",
        "ltvCurrency": "USD",
        "lastPurchasedAt": None,
    }
    assert cid["marketingConsent"] == {"email": True, "sms": False, "whatsapp": True}
    assert cid["source"] == "UNKNOWN"
    assert cid["tags"] == []


async def test_reimport_keeps_withdrawn_consent(client: GraphQLClient) -> None:
    """A contact who withdrew email consent is not opted back in by a re-import."""
    payload = await import_rows(client, [{"email": "ann@example.test", "tags": ["vip"]}])
    assert payload == {"createdCount": 1, "updatedCount": 0, "userErrors": []}
    ann = await contact_by_email(client, "ann@example.test")
    await client.mutate(
        "updateContact", {"id": ann["id"], "marketingConsent": {"email": False}}, "contact { id }"
    )
    for row in (
        {"email": "ann@example.test", "firstName": "Ann", "tags": ["vip"]},
        {"email": "ann@example.test", "marketingConsent": {"sms": False}},
        {"email": "ann@example.test", "marketingConsent": {"email": None}},
    ):
        payload = await import_rows(client, [row])
        assert payload == {"createdCount": 0, "updatedCount": 1, "userErrors": []}
        consent = (await contact_by_email(client, "ann@example.test"))["marketingConsent"]
        assert consent["email"] is False
    assert (await contact_by_email(client, "ann@example.test"))["marketingConsent"] == {
        "email": False,
        "sms": False,
        "whatsapp": True,
    }
    # Only a row that says so gives consent back.
    await import_rows(client, [{"email": "ann@example.test", "marketingConsent": {"email": True}}])
    consent = (await contact_by_email(client, "ann@example.test"))["marketingConsent"]
    assert consent == {"email": True, "sms": False, "whatsapp": True}


async def test_reimport_keeps_omitted_fields(client: GraphQLClient) -> None:
    full = {
        "email": "ann@example.test",
        "firstName": "Ann",
        "lastName": "Smith",
        "phone": "+14155550123",
        "whatsapp": "+14155550124",
        "country": "US",
        "source": "PURCHASE",
        "tags": ["vip"],
        "marketingConsent": {"email": True, "sms": False, "whatsapp": False},
    }
    await import_rows(client, [full])
    stored = await contact_by_email(client, "ann@example.test")
    payload = await import_rows(client, [{"email": "ann@example.test"}])
    assert payload == {"createdCount": 0, "updatedCount": 1, "userErrors": []}
    assert await contact_by_email(client, "ann@example.test") == stored
    payload = await import_rows(client, [{"email": "ann@example.test", "country": "CA"}])
    assert await contact_by_email(client, "ann@example.test") == {**stored, "country": "CA"}


async def test_reimport_adds_tags(client: GraphQLClient) -> None:
    await import_rows(client, [{"email": "ann@example.test", "tags": ["a", "b"]}])
    payload = await import_rows(
        client,
        [{"email": "ann@example.test", "tags": ["c", "a"]}, {"email": "bob@example.test"}],
    )
    assert payload == {"createdCount": 1, "updatedCount": 1, "userErrors": []}
    assert (await contact_by_email(client, "ann@example.test"))["tags"] == ["a", "b", "c"]
    await import_rows(client, [{"email": "ann@example.test", "tags": []}])
    assert (await contact_by_email(client, "ann@example.test"))["tags"] == ["a", "b", "c"]


async def test_import_invalid_rows_lists_every_problem(client: GraphQLClient) -> None:
    await create(client, email="kept@example.test", firstName="Kept")
    before = await client.snapshot()
    payload = await import_rows(
        client,
        [
            {"email": "ok@example.test"},
            {"email": "not-an-email", "firstName": "x" * 101},
            {"email": "kept@example.test", "firstName": "Changed"},
            {"firstName": "No email"},
            {"email": "c@example.test", "phone": "12", "whatsapp": "+1", "country": "USA"},
            {"email": "d@example.test", "lastName": "y" * 101, "tags": [" "]},
        ],
    )
    assert payload["createdCount"] == 0
    assert payload["updatedCount"] == 0
    assert errors_of(payload) == [
        (["contacts", "1", "email"], "INVALID"),
        (["contacts", "1", "firstName"], "TOO_LONG"),
        (["contacts", "3", "email"], "REQUIRED"),
        (["contacts", "4", "phone"], "INVALID"),
        (["contacts", "4", "whatsapp"], "INVALID"),
        (["contacts", "4", "country"], "INVALID"),
        (["contacts", "5", "lastName"], "TOO_LONG"),
        (["contacts", "5", "tags"], "INVALID"),
    ]
    assert await client.snapshot() == before


async def test_import_duplicate_email_within_one_import(client: GraphQLClient) -> None:
    before = await client.snapshot()
    payload = await import_rows(
        client,
        [
            {"email": "ann@example.test"},
            {"email": "bob@example.test"},
            {"email": " ANN@Example.test"},
        ],
    )
    assert (payload["createdCount"], payload["updatedCount"]) == (0, 0)
    assert errors_of(payload) == [(["contacts", "2", "email"], "DUPLICATE")]
    assert await client.snapshot() == before


async def test_import_rows_missing_email_are_not_duplicates(client: GraphQLClient) -> None:
    payload = await import_rows(client, [{"firstName": "A"}, {"firstName": "B"}])
    assert errors_of(payload) == [
        (["contacts", "0", "email"], "REQUIRED"),
        (["contacts", "1", "email"], "REQUIRED"),
    ]


async def test_import_too_many_rows(client: GraphQLClient) -> None:
    before = await client.snapshot()
    rows = [{"email": f"c{i}@example.test"} for i in range(10_001)]
    payload = await import_rows(client, rows)
    assert (payload["createdCount"], payload["updatedCount"]) == (0, 0)
    assert errors_of(payload) == [(["contacts"], "TOO_MANY")]
    assert await client.snapshot() == before


async def test_import_empty_list(client: GraphQLClient) -> None:
    assert await import_rows(client, []) == {"createdCount": 0, "updatedCount": 0, "userErrors": []}


async def test_import_ten_thousand_contacts(client: GraphQLClient) -> None:
    rows = [
        {"email": f"person{i}@example.test", "firstName": f"P{i}", "tags": ["bulk", f"g{i % 7}"]}
        for i in range(10_000)
    ]
    started = time.perf_counter()
    payload = await import_rows(client, rows)
    created_in = time.perf_counter() - started
    assert payload == {"createdCount": 10_000, "updatedCount": 0, "userErrors": []}
    count = "query($f: ContactFilter) { contacts(filter: $f) { totalCount } }"
    assert await client.gql(count) == {"contacts": {"totalCount": 10_000}}

    started = time.perf_counter()
    payload = await import_rows(client, rows)
    updated_in = time.perf_counter() - started
    assert payload == {"createdCount": 0, "updatedCount": 10_000, "userErrors": []}
    assert await client.gql(count) == {"contacts": {"totalCount": 10_000}}
    assert await client.gql(count, {"f": {"tags": ["g3"]}}) == {
        "contacts": {"totalCount": len(range(3, 10_000, 7))}
    }
    print(f"\nimport 10,000 contacts: create {created_in:.2f}s, re-import {updated_in:.2f}s")


# --------------------------------------------------------------------------- contacts query


@pytest.fixture
async def people(client: GraphQLClient) -> GraphQLClient:
    rows: list[dict[str, Any]] = [
        {"email": "ann@alpha.test", "firstName": "Ann", "lastName": "Smith", "tags": ["vip"]},
        {"email": "bob@beta.test", "firstName": "Bob", "lastName": "SMITHERS", "source": "LEAD"},
        {"email": "cara_x@gamma.test", "firstName": "Cara", "tags": ["news"], "source": "LEAD"},
        {"email": "carax@gamma.test", "firstName": "50% off", "tags": ["vip", "news"]},
        {"email": "dan@delta.test", "firstName": "Dan", "lastName": "Annand", "tags": ["other"]},
        {"email": "eve@epsilon.test", "firstName": "Eve", "source": "MIGRATION"},
    ]
    for row in rows:
        await create(client, **row)
    return client


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        (None, ["eve", "dan", "carax", "cara_x", "bob", "ann"]),
        ({}, ["eve", "dan", "carax", "cara_x", "bob", "ann"]),
        ({"q": "ANN"}, ["dan", "ann"]),
        ({"q": "smith"}, ["bob", "ann"]),
        ({"q": "Smithers"}, ["bob"]),
        ({"q": "GAMMA.test"}, ["carax", "cara_x"]),
        ({"q": "_"}, ["cara_x"]),
        ({"q": "a_x"}, ["cara_x"]),
        ({"q": "%"}, ["carax"]),
        ({"q": "0%"}, ["carax"]),
        ({"q": "nobody"}, []),
        ({"q": ""}, ["eve", "dan", "carax", "cara_x", "bob", "ann"]),
        ({"source": "LEAD"}, ["cara_x", "bob"]),
        ({"source": "UNKNOWN"}, ["dan", "carax", "ann"]),
        ({"source": "PURCHASE"}, []),
        ({"tags": ["vip"]}, ["carax", "ann"]),
        ({"tags": ["vip", "news"]}, ["carax", "cara_x", "ann"]),
        ({"tags": ["missing", "other"]}, ["dan"]),
        ({"tags": ["VIP"]}, []),
        ({"tags": []}, ["eve", "dan", "carax", "cara_x", "bob", "ann"]),
        ({"tags": ["news"], "source": "LEAD"}, ["cara_x"]),
        ({"q": "car", "tags": ["vip"]}, ["carax"]),
    ],
)
async def test_contacts_filter(
    people: GraphQLClient, filter: dict[str, Any] | None, expected: list[str]
) -> None:
    found = await emails(people, filter)
    assert [e.split("@")[0] for e in found] == expected


async def test_contacts_pagination(client: GraphQLClient) -> None:
    for i in range(1, 6):
        await create(client, email=f"c{i}@example.test")
    query = (
        "query($first: Int, $after: String, $last: Int, $before: String) "
        "{ contacts(first: $first, after: $after, last: $last, before: $before) { totalCount "
        "edges { cursor node { email } } "
        "pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"
    )

    async def page(**args: Any) -> tuple[list[str], dict[str, Any]]:
        conn = (await client.gql(query, args))["contacts"]
        assert conn["totalCount"] == 5
        info = conn["pageInfo"]
        if conn["edges"]:
            assert info["startCursor"] == conn["edges"][0]["cursor"]
            assert info["endCursor"] == conn["edges"][-1]["cursor"]
        return [e["node"]["email"][:2] for e in conn["edges"]], info

    names, info = await page(first=2)
    assert names == ["c5", "c4"]
    assert (info["hasNextPage"], info["hasPreviousPage"]) == (True, False)
    names, info = await page(first=2, after=info["endCursor"])
    assert names == ["c3", "c2"]
    assert (info["hasNextPage"], info["hasPreviousPage"]) == (True, True)
    names, info = await page(first=2, after=info["endCursor"])
    assert names == ["c1"]
    assert (info["hasNextPage"], info["hasPreviousPage"]) == (False, True)

    names, info = await page(last=2)
    assert names == ["c2", "c1"]
    assert (info["hasNextPage"], info["hasPreviousPage"]) == (False, True)
    names, info = await page(last=2, before=info["startCursor"])
    assert names == ["c4", "c3"]
    assert (info["hasNextPage"], info["hasPreviousPage"]) == (True, True)

    names, info = await page(first=0)
    assert names == []
    assert info["startCursor"] is None
    names, _ = await page()
    assert names == ["c5", "c4", "c3", "c2", "c1"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"first": 101}, "Page size must be between 0 and 100."),
        ({"first": -1}, "Page size must be between 0 and 100."),
        ({"first": 1, "last": 1}, "Pass `first` or `last`, not both."),
        ({"after": "garbage"}, "`after` is not a cursor from this list."),
    ],
)
async def test_contacts_bad_paging_arguments(
    client: GraphQLClient, args: dict[str, Any], message: str
) -> None:
    response = await client.raw(
        "query($first: Int, $last: Int, $after: String) "
        "{ contacts(first: $first, last: $last, after: $after) { totalCount } }",
        args,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert [e["message"] for e in body["errors"]] == [message]
