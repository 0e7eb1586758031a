"""Foundation benchmark: importContacts and startCampaign over real HTTP vs bare SQL.

Run: .venv/bin/python -m tests.benchmarks.bench_foundation [--contacts N]

Starts a Clarion server in-process (as the `server` fixture in tests/support.py does),
times N contacts through `importContacts` (10,000 rows per call) and `startCampaign` on an
N-contact audience, and compares each with the same work done directly with SQLAlchemy Core
into a second account of the same database. Prints numbers only; asserts correctness, never
timings.
"""

import argparse
import asyncio
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select

from db.engine import Database, connect
from db.models import Audience, Campaign, Contact, ContactTag, Delivery
from db.queries import materialise_ledger
from db.settings import Settings
from db.usecases.accounts import create_account
from tests.support import free_port, running_server

DEFAULT_CONTACTS = 100_000
# importContacts accepts at most this many rows per call (db.usecases.contact_import.IMPORT_LIMIT).
API_BATCH = 10_000
CORE_CHUNK = 1_000
TAG = "bench"

IMPORT_MUTATION = """
mutation($c: [ContactFields!]!) {
  importContacts(input: {contacts: $c}) { createdCount updatedCount userErrors { code } }
}
"""
CHANNEL_MUTATION = """
mutation {
  createEmailChannel(input: {code: "bench", channelType: MARKETING, smtpHost: "127.0.0.1",
                             smtpPort: 2525, smtpSecurity: NONE}) {
    emailChannel { id } userErrors { code message }
  }
}
"""
CAMPAIGN_MUTATION = """
mutation {
  createEmailCampaign(input: {campaignName: "Bench", emailChannel: "bench",
                              contactTags: ["bench"], subject: "Hi", bodyHtml: "<p>x</p>"}) {
    campaign { id } userErrors { code message }
  }
}
"""
START_MUTATION = """
mutation($id: ID!) {
  startCampaign(input: {id: $id}) {
    campaign { status execution { totalContacts } } userErrors { code message }
  }
}
"""


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds, and CPU seconds of the whole process (server, client, SQLite
    threads) over the same span: on a busy machine wall time grows, CPU time much less."""

    wall: float
    cpu: float


class Stopwatch:
    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def stop(self) -> Timing:
        return Timing(time.perf_counter() - self.wall, time.process_time() - self.cpu)


@dataclass
class Results:
    contacts: int
    import_api: Timing = Timing(0.0, 0.0)
    import_core: Timing = Timing(0.0, 0.0)
    start_api: Timing = Timing(0.0, 0.0)
    start_core: Timing = Timing(0.0, 0.0)


def contact_rows(n: int) -> list[dict[str, Any]]:
    """The API rows; the baseline inserts the same contacts."""
    return [{"email": f"user{i}@bench.test", "firstName": "User", "tags": [TAG]} for i in range(n)]


async def new_account(db: Database, name: str) -> tuple[int, str]:
    async with db.write() as session:
        account, key = await create_account(session, name)
        account.default_from_email = "news@bench.test"
        account.default_reply_to_email = "help@bench.test"
    return account.id, key


async def gql(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`data` of a request that must succeed without top-level errors."""
    response = await http.post("/graphql", json={"query": query, "variables": variables or {}})
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:2000]}")
    body = response.json()
    if "errors" in body:
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    data: dict[str, Any] = body["data"]
    return data


async def import_via_api(http: httpx.AsyncClient, n: int) -> Timing:
    rows = contact_rows(n)
    created = 0
    watch = Stopwatch()
    for start in range(0, n, API_BATCH):
        batch = Stopwatch()
        data = await gql(http, IMPORT_MUTATION, {"c": rows[start : start + API_BATCH]})
        payload = data["importContacts"]
        assert payload["userErrors"] == [], payload["userErrors"]
        created += payload["createdCount"]
        done = min(start + API_BATCH, n)
        print(f"  importContacts {done:>7}/{n}: {_fmt(batch.stop())}")
    elapsed = watch.stop()
    assert created == n, f"created {created} of {n}"
    return elapsed


async def import_via_core(db: Database, account_id: int, n: int) -> Timing:
    """The same contacts and tags, bulk-inserted with Core in one transaction."""
    watch = Stopwatch()
    async with db.engine.begin() as conn:
        for start in range(0, n, CORE_CHUNK):
            values = [
                {"account_id": account_id, "email": f"user{i}@bench.test", "first_name": "User"}
                for i in range(start, min(start + CORE_CHUNK, n))
            ]
            result = await conn.execute(insert(Contact).returning(Contact.id), values)
            tags = [
                {"contact_id": contact_id, "tag": TAG, "account_id": account_id}
                for contact_id in result.scalars()
            ]
            assert len(tags) == len(values)
            await conn.execute(insert(ContactTag), tags)
    elapsed = watch.stop()
    async with db.read() as session:
        count = await session.scalar(
            select(func.count()).select_from(Contact).where(Contact.account_id == account_id)
        )
    assert count == n, f"baseline inserted {count} of {n}"
    return elapsed


async def start_via_api(http: httpx.AsyncClient, n: int) -> Timing:
    channel = (await gql(http, CHANNEL_MUTATION))["createEmailChannel"]
    assert channel["userErrors"] == [], channel["userErrors"]
    made = (await gql(http, CAMPAIGN_MUTATION))["createEmailCampaign"]
    assert made["userErrors"] == [], made["userErrors"]
    watch = Stopwatch()
    data = await gql(http, START_MUTATION, {"id": made["campaign"]["id"]})
    elapsed = watch.stop()
    payload = data["startCampaign"]
    assert payload["userErrors"] == [], payload["userErrors"]
    total = payload["campaign"]["execution"]["totalContacts"]
    assert total == n, f"totalContacts {total} != {n}"
    print(f"  startCampaign: status {payload['campaign']['status']}, {total} deliveries")
    return elapsed


async def start_via_core(db: Database, account_id: int, n: int) -> Timing:
    """The bare ledger INSERT … SELECT of begin_sending, for a campaign made with the ORM."""
    async with db.write() as session:
        audience = Audience(account_id=account_id, name="Bench", code=TAG, tags=[TAG])
        session.add(audience)
        await session.flush()
        campaign = Campaign(account_id=account_id, name="Bench", audience_id=audience.id)
        session.add(campaign)
        await session.flush()
    stmt = materialise_ledger(account_id, campaign.id, audience.tags)
    watch = Stopwatch()
    async with db.engine.begin() as conn:
        await conn.execute(stmt)
    elapsed = watch.stop()
    async with db.read() as session:
        count = await session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.campaign_id == campaign.id)
        )
    assert count == n, f"baseline ledger has {count} rows, expected {n}"
    return elapsed


def _fmt(t: Timing) -> str:
    return f"{t.wall:6.2f} s (cpu {t.cpu:6.2f} s)"


def _ratio(api: Timing, base: Timing) -> str:
    wall = f"{api.wall / base.wall:.1f}x" if base.wall > 0 else "n/a"
    cpu = f"{api.cpu / base.cpu:.1f}x" if base.cpu > 0 else "n/a"
    return f"ratio {wall} (cpu {cpu})"


def print_summary(r: Results) -> None:
    rate = r.contacts / r.import_api.wall if r.import_api.wall > 0 else 0.0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print()
    print(f"contacts              : {r.contacts}")
    print(f"importContacts (API)  : {_fmt(r.import_api)}  ({rate:.0f} contacts/s)")
    print(f"baseline Core insert  : {_fmt(r.import_core)}  {_ratio(r.import_api, r.import_core)}")
    print(f"startCampaign (API)   : {_fmt(r.start_api)}")
    print(f"baseline INSERT…SELECT: {_fmt(r.start_core)}  {_ratio(r.start_api, r.start_core)}")
    print(f"peak RSS              : {peak_mib:.0f} MiB")


async def run(n: int, data_dir: Path) -> Results:
    settings = Settings.from_env(
        {"CLARION_DATA_DIR": str(data_dir), "CLARION_PORT": str(free_port())}
    )
    async with running_server(settings):
        return await _measure(n, settings)


async def _measure(n: int, settings: Settings) -> Results:
    db = connect(settings.database_url)
    results = Results(contacts=n)
    try:
        api_account, key = await new_account(db, "Bench API")
        core_account, _ = await new_account(db, "Bench Core")
        print(f"server on port {settings.port}, database {settings.database_url}")
        print(f"accounts: API {api_account}, baseline {core_account}")
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{settings.port}",
            headers={"Authorization": f"Bearer {key}"},
            timeout=httpx.Timeout(900.0),
        ) as http:
            results.import_api = await import_via_api(http, n)
            results.import_core = await import_via_core(db, core_account, n)
            print(f"  baseline Core insert: {_fmt(results.import_core)}")
            results.start_api = await start_via_api(http, n)
            results.start_core = await start_via_core(db, core_account, n)
            print(f"  baseline INSERT…SELECT: {_fmt(results.start_core)}")
    finally:
        await db.dispose()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--contacts",
        type=int,
        default=DEFAULT_CONTACTS,
        help=f"contacts to import and target (default {DEFAULT_CONTACTS})",
    )
    args = parser.parse_args(argv)
    if args.contacts < 1:
        parser.error("--contacts must be at least 1")
    with tempfile.TemporaryDirectory(prefix="clarion-bench-") as tmp:
        results = asyncio.run(run(args.contacts, Path(tmp)))
    print_summary(results)


if __name__ == "__main__":
    main()
