from typing import Any
import base64, json
from tests.support import GraphQLClient, make_channel, make_email_campaign, import_contacts

def gid(t: str, i: object) -> str:
    return base64.urlsafe_b64encode(f"{t}:{i}".encode()).decode().rstrip("=")

async def test_probe(client: GraphQLClient, new_client: Any) -> None:
    r = await client.raw("{ node(id: \"%s\") { id } }" % gid("Account", 10**8))
    print("acct missing", r.status_code, r.text)
    r = await client.raw("{ node(id: \"%s\") { id } }" % gid("Contact", 10**30))
    print("huge", r.status_code, r.text)
    r = await client.raw("{ contacts(after: \"%s\") { totalCount } }" % gid("Cursor", 10**30))
    print("huge cursor", r.status_code, r.text)
    r = await client.raw("mutation { deleteContact(input: {id: \"%s\"}) { deletedId } }" % gid("Contact", "²")); print("sup", r.text)

    p = await client.mutate("createEmailChannel", {"code": "x", "channelType": "MARKETING", "smtpHost": "h", "rateLimit": None}, "emailChannel { rateLimit }")
    print("ratelimit null", p)
    await make_channel(client)
    await import_contacts(client, [{"email": "a@b.test", "tags": ["vip"]}])
    c = await make_email_campaign(client)
    b = await new_client("B")
    p = await b.mutate("addLtv", {"campaignId": c["id"], "value": "1", "currency": "USD"}, "campaign { id }")
    print("ltv cross", p)
    p = await client.mutate("addLtv", {"campaignId": "zzz", "value": "1", "currency": "USD"}, "campaign { id }")
    print("ltv malformed", p)
    r = await client.http.post("/graphql", json={"query": "{ viewer { id } }"}, headers={"Authorization": "Bearer"})
    print(r.status_code, r.text)
    r = await client.http.get("/graphql", headers={"Accept": "text/html"})
    print(r.status_code, r.headers, r.text[:200])
    r = await client.http.get("/health")
    print(r.status_code, r.text)
    deep = "{ contacts { edges { node { id } } } }"
    q = "query { campaigns { edges { node { audience { id } emailChannel { id } } } } }"
    print((await client.raw(q)).text)
    aliases = "{ " + " ".join(f"a{i}: viewer {{ id }}" for i in range(21)) + " }"
    r = await client.raw(aliases); print(r.status_code, r.text)
    toks = "{ viewer { " + " ".join(["id"] * 5001) + " } }"
    r = await client.raw(toks); print(r.status_code, r.text[:300])
