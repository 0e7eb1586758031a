"""What converts a WhatsApp/SMS lead, and the one way a lead is marked converted.

A lead converts when revenue is attributed to it (addLtv) or when it taps a quick reply
its campaign names as a conversion (`Campaign.conversion_payloads`). Only a lead whose
message was sent (Twilio took it) can convert: revenue from a contact the campaign never
reached is still the campaign's and the contact's LTV, but no conversion of a message.

`mark_converted` sets the lead's time once and counts it once on the execution, with one
conditional UPDATE, so two attributions racing count one conversion.
"""

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from db import validation as v
from db.enums import CampaignStatus, ContentType
from db.errors import ErrorCode, Problem
from db.models import CampaignExecution, Delivery

MAX_PAYLOADS = 10  # WhatsApp's most quick replies in one message
MAX_PAYLOAD_LENGTH = 200  # a quick reply's id, which comes back as ButtonPayload
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# conversionPayloads changes until the campaign has ended: a tap is judged when it
# arrives, so a change applies to taps from then on (earlier conversions stay).
PAYLOADS_LOCKED_STATUSES = frozenset(
    {CampaignStatus.COMPLETED, CampaignStatus.CANCELLED, CampaignStatus.FAILED}
)
FIELD = "conversion_payloads"


def quick_reply_ids(content_type: ContentType, context: Any) -> list[str]:
    """The ids of the content's quick-reply buttons (a QUICK_REPLY content's actions, or a
    card's actions of type QUICK_REPLY), in order. A button without an id has none to tap
    back, so it names no conversion."""
    if not isinstance(context, dict) or not isinstance(context.get("actions"), list):
        return []
    default = "QUICK_REPLY" if ContentType(content_type) is ContentType.QUICK_REPLY else None
    ids = []
    for action in context["actions"]:
        if not isinstance(action, dict):
            continue
        kind = action.get("type", default)
        reply_id = action.get("id")
        if kind == "QUICK_REPLY" and isinstance(reply_id, str) and reply_id:
            ids.append(reply_id)
    return ids


def check_payloads(
    payloads: Sequence[Any],
    content_type: ContentType,
    context: Any,
    problems: v.Problems,
    field: str = FIELD,
) -> list[str] | None:
    """The payloads to store (None for none), adding a problem per bad one: each must be a
    non-empty one-line string of at most 200 characters, unique, and one of the content's
    quick-reply ids; at most 10."""
    if problem := v.too_many(payloads, MAX_PAYLOADS, field):
        problems.add(problem)
        return None
    known = set(quick_reply_ids(content_type, context))
    seen: set[str] = set()
    before = len(problems.items)
    for index, payload in enumerate(payloads):
        at = (field, str(index))
        if not isinstance(payload, str) or not payload:
            problems.add(Problem(ErrorCode.REQUIRED, "A payload may not be empty.", at))
        elif len(payload) > MAX_PAYLOAD_LENGTH:
            problems.add(
                Problem(
                    ErrorCode.TOO_LONG,
                    f"A payload is at most {MAX_PAYLOAD_LENGTH} characters.",
                    at,
                )
            )
        elif _CONTROL.search(payload):
            problems.add(
                Problem(ErrorCode.INVALID, "A payload may not hold control characters.", at)
            )
        elif payload in seen:
            problems.add(Problem(ErrorCode.DUPLICATE, "The same payload is given twice.", at))
        elif payload not in known:
            problems.add(
                Problem(
                    ErrorCode.INVALID,
                    "Not the id of one of the content's quick replies"
                    + (f" ({', '.join(sorted(known))})." if known else " (it has none)."),
                    at,
                )
            )
        if isinstance(payload, str):
            seen.add(payload)
    if len(problems.items) > before or not payloads:
        return None
    return list(payloads)


async def mark_converted(
    session: AsyncSession, campaign_id: int, lead_id: int, now: datetime
) -> bool:
    """Marks the lead converted if it was sent and was not yet; counts it on the execution
    in the same transaction. Returns whether this call converted it."""
    result = await session.execute(
        update(Delivery)
        .where(
            Delivery.id == lead_id,
            Delivery.campaign_id == campaign_id,
            Delivery.converted_at.is_(None),
            Delivery.sent_at.is_not(None),
        )
        .values(converted_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        return False
    await session.execute(
        update(CampaignExecution)
        .where(CampaignExecution.campaign_id == campaign_id)
        .values(total_converted=CampaignExecution.total_converted + 1, updated_at=now)
    )
    return True
