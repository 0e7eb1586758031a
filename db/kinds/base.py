"""What differs between kinds of campaign (email; WhatsApp and SMS) on the database's
side, behind one protocol: the channel a campaign sends through, what it needs before it
may start, who its recipients are (the ledger rows it starts with), and what it sends
(fixed when it starts). Everything else (lifecycle, ledger, claims, executions) is one
copy for every kind.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Campaign
from db.quota import QuotaWindow


@dataclass(frozen=True)
class ChannelState:
    """A campaign's channel as the engine sees it, read live at each run."""

    id: int
    # Unique across families (`email:3`, `twilio:3`): keys usage, pacing and pools.
    key: str
    active: bool
    # Why it may not send while inactive, for the execution's error message.
    inactive_reason: str
    rate_limit: int | None
    daily_quota: int
    # How the quota is counted (db/quota.py).
    quota_window: QuotaWindow = QuotaWindow.UTC_DAY
    # Counted per engagement (opens, clicks) when the channel tracks it.
    tracks_engagement: bool = False


@dataclass(frozen=True)
class Recipients:
    """What starting a campaign put in its ledger."""

    total: int
    # Audience members left out (no consent, no address for the channel).
    skipped: int


# What updateCampaign may change on a campaign of any kind.
COMMON_UPDATE_FIELDS = frozenset(
    {"name", "description", "audience", "scheduled_at", "execution_duration_minutes"}
)


class CampaignKind(Protocol):
    """One kind of campaign: the db side of a channel family."""

    # The channel family that sends it (jobs/channels/registry.py).
    family: str
    # The contact's consent flag this kind honours; an opt-out clears it.
    consent_column: str
    # Its ledger rows are leads (WhatsApp/SMS): what comes back after sending (delivered,
    # read, replied, converted) is counted, and their changes are announced live.
    has_leads: bool
    # What updateCampaign may change on a campaign of this kind (use-case field names);
    # any other field is refused (an SMS campaign has no from_email).
    update_fields: frozenset[str]

    async def channel(self, session: AsyncSession, campaign: Campaign) -> ChannelState | None:
        """The campaign's channel now; None when it has none (deleted)."""
        ...

    async def check_ready(self, session: AsyncSession, campaign: Campaign) -> None:
        """Raises DomainError when the campaign may not start or be scheduled yet."""
        ...

    async def add_recipients(
        self, session: AsyncSession, campaign: Campaign, now: datetime
    ) -> Recipients:
        """Writes the campaign's ledger rows when it starts."""
        ...

    async def snapshot(self, session: AsyncSession, campaign: Campaign) -> dict[str, Any]:
        """What the campaign sends, as it is now (JSON): stored on its execution at start."""
        ...

    async def settings(
        self, session: AsyncSession, campaign: Campaign, fixed: dict[str, Any]
    ) -> Any:
        """The family's settings of a run: `fixed` (the snapshot) plus the channel's live
        settings (credentials, servers). Opaque to the engine; read by the family's
        transport."""
        ...

    def message_id_domain(self, settings: Any) -> str | None:
        """The domain of the Message-ID each claim gives its rows; None when the provider
        names messages itself."""
        ...

    def waits_for_triggers(self, campaign: Campaign) -> bool:
        """True when the campaign's recipients come while it runs, one per trigger (a
        service campaign): it may start with none, and its execution stays open when it has
        sent every row, until it is cancelled; otherwise that run is complete."""
        ...
