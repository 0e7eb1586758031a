"""The channel families a worker can send through, by name (db/kinds names a campaign's)."""

from collections.abc import Mapping
from typing import Any, Protocol

from db.usecases.send_plan import SendPlan
from jobs.channels.base import Transport


class Family(Protocol):
    """A channel family's shared resources in one worker process (connection pools,
    render processes, API clients)."""

    async def before_run(self, plan: SendPlan[Any]) -> None:
        """Checks, before a run sends, what the campaign depends on outside Clarion (a
        WhatsApp template's approval). It may halt the execution: the run then ends at
        its first claim."""
        ...

    async def open(self, channel_id: int, settings: object) -> Transport:
        """A transport for one run of a campaign on the channel, with the run's settings
        (db/kinds: the family's `settings`)."""
        ...

    async def close(self) -> None: ...


class Families:
    def __init__(self, families: Mapping[str, Family]) -> None:
        self._families = dict(families)

    def __getitem__(self, name: str) -> Family:
        return self._families[name]

    async def close(self) -> None:
        for family in self._families.values():
            await family.close()
