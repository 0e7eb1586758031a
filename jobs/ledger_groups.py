"""The ledger writes of every run in one worker process, grouped: the claims that come
while another group is being written go in the next one, in one transaction of a few
statements for them all (db/usecases/claims.py: `claim_many`; ledger.py: `record_many`),
and so do the recordings. Runs whose batches come due together (the channel windows'
times fall on a shared tick: jobs/pacing.py) meet here, so a message costs about the same
whether a worker sends one campaign fast or many slowly.

A group that fails is written again one claim (or recording) at a time, so that what one
campaign's rows cannot take fails that campaign alone; each caller gets its own result
or error.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from db.clock import db_now
from db.engine import Database
from db.usecases import ledger
from db.usecases.claims import Claim, ClaimRequest, claim_many
from jobs.group_commit import GroupCommit

# The most claims or recordings written in one transaction.
MAX_GROUP = 100
# A recording waits this long for others to join it (a claim does not wait: its batch is
# due, and batches due together come together).
RECORD_GATHER_S = 0.02


@dataclass(eq=False)
class _Claiming:
    request: ClaimRequest
    claim: Claim | None = None
    error: Exception | None = None


@dataclass(eq=False)
class _Recording:
    recording: ledger.Recording
    error: Exception | None = None


class LedgerGroups:
    def __init__(self, db: Database, lease: timedelta, retry_delays: Sequence[float]) -> None:
        self._db = db
        self._lease = lease
        self._retry_delays = retry_delays
        self._claims = GroupCommit(self._claim_group, MAX_GROUP)
        self._records = GroupCommit(self._record_group, MAX_GROUP, RECORD_GATHER_S)

    async def claim(self, request: ClaimRequest) -> Claim:
        item = _Claiming(request)
        await self._claims.submit(item)
        if item.error is not None:
            raise item.error
        assert item.claim is not None
        return item.claim

    async def record(self, recording: ledger.Recording) -> None:
        item = _Recording(recording)
        await self._records.submit(item)
        if item.error is not None:
            raise item.error

    async def close(self) -> None:
        await self._claims.stop()
        await self._records.stop()

    async def _claim_group(self, items: list[_Claiming]) -> None:
        try:
            claims = await self._claim([item.request for item in items])
        except Exception:
            if len(items) == 1:
                raise
            for item in items:
                try:
                    (item.claim,) = await self._claim([item.request])
                except Exception as exc:
                    item.error = exc
            return
        for item, claim in zip(items, claims, strict=True):
            item.claim = claim

    async def _claim(self, requests: list[ClaimRequest]) -> list[Claim]:
        async with self._db.write() as session:
            return await claim_many(session, requests, self._lease)

    async def _record_group(self, items: list[_Recording]) -> None:
        try:
            await self._record([item.recording for item in items])
        except Exception:
            if len(items) == 1:
                raise
            for item in items:
                try:
                    await self._record([item.recording])
                except Exception as exc:
                    item.error = exc

    async def _record(self, recordings: list[ledger.Recording]) -> None:
        async with self._db.write() as session:
            now = await db_now(session)
            await ledger.record_many(session, recordings, now, self._retry_delays)
