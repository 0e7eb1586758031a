"""Twilio's Content API, as Clarion uses it: create a Content resource from a campaign's
content, ask for its WhatsApp approval, read that approval, read a template of the user's
account (contentSid). Every call goes through the twilio package's own resources on a
`Client` made by `twilio_client` / `TwilioClients`; what goes wrong is a `ContentApiError`
with one line for people (the package's exceptions and ours, classified)."""

from dataclasses import dataclass
from typing import Any

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from twilio.rest.content.v1.content import ContentList
from twilio.rest.content.v1.content.approval_create import ApprovalCreateList

from db.enums import ApprovalCategory, ApprovalStatus, ContentType
from db.usecases.messaging_campaigns import CONTENT_SID, FetchedContent
from jobs.channels.twilio.content import from_twilio_types, to_twilio_types, twilio_variables
from jobs.channels.twilio.errors import classify
from jobs.channels.twilio.problems import ContentError

LANGUAGE = "en"
FRIENDLY_NAME_MAX = 64
REASON_MAX = 500


class ContentApiError(Exception):
    """Twilio refused or could not be reached; `reason` is one line for people."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class _ExactTypes:
    """`types` as Clarion validated them. The package's typed models drop fields they do
    not know (a VOICE_CALL button's ttl_minutes) and send every other type as null."""

    types: dict[str, object]

    def to_dict(self) -> dict[str, object]:
        return self.types


def _failed(exc: Exception) -> ContentApiError:
    status = exc.status if isinstance(exc, TwilioRestException) else None
    return ContentApiError(classify(exc).reason, status if isinstance(status, int) else None)


def approval_status(value: object) -> ApprovalStatus:
    """Twilio's status (lowercase); anything unknown reads as pending (still in review)."""
    text = str(value or "").strip().lower()
    try:
        return ApprovalStatus(text)
    except ValueError:
        return ApprovalStatus.PENDING


def _reason(value: object) -> str:
    text = " ".join(str(value or "").split())
    return text[:REASON_MAX]


async def create_content(
    client: Client, friendly_name: str, content_type: ContentType, context: object
) -> str:
    """A new Content resource holding `context` as `content_type`, its variables with
    samples (WhatsApp approval needs them); its SID (HX…)."""
    request = ContentList.ContentCreateRequest(
        {
            "friendly_name": friendly_name[:FRIENDLY_NAME_MAX],
            "language": LANGUAGE,
            "variables": twilio_variables(content_type, context),
        }
    )
    request.types = _ExactTypes(to_twilio_types(content_type, context))
    try:
        created = await client.content.v1.contents.create_async(request)
    except Exception as exc:
        raise _failed(exc) from exc
    sid = str(created.sid or "")
    if not CONTENT_SID.fullmatch(sid):
        raise ContentApiError("Twilio answered without a content SID.")
    return sid


async def request_whatsapp_approval(
    client: Client, sid: str, name: str, category: ApprovalCategory
) -> ApprovalStatus:
    """Submits the Content resource `sid` to WhatsApp under the template `name`; the status
    Twilio answers with (received)."""
    request = ApprovalCreateList.ContentApprovalRequest(
        {"name": name, "category": category.value.upper()}
    )
    try:
        made = await client.content.v1.contents(sid).approval_create.create_async(request)
    except Exception as exc:
        raise _failed(exc) from exc
    return approval_status(made.status)


async def fetch_approval(client: Client, sid: str) -> tuple[ApprovalStatus, str]:
    """The WhatsApp approval of `sid` now, and Twilio's reason (rejected, paused,
    disabled), "" otherwise."""
    try:
        found = await client.content.v1.contents(sid).approval_fetch().fetch_async()
    except Exception as exc:
        raise _failed(exc) from exc
    whatsapp: Any = found.whatsapp if isinstance(found.whatsapp, dict) else {}
    status = approval_status(whatsapp.get("status") or "unsubmitted")
    keeps_reason = status in (
        ApprovalStatus.REJECTED,
        ApprovalStatus.PAUSED,
        ApprovalStatus.DISABLED,
    )
    return status, _reason(whatsapp.get("rejection_reason")) if keeps_reason else ""


async def fetch_content(client: Client, sid: str) -> FetchedContent | None:
    """A template of the channel's Twilio account, with its approval; None when Twilio has
    no such content (404). A type Clarion does not send reads as content_type None (the
    create refuses it)."""
    try:
        found = await client.content.v1.contents(sid).fetch_async()
    except TwilioRestException as exc:
        if exc.status == 404:
            return None
        raise _failed(exc) from exc
    except Exception as exc:
        raise _failed(exc) from exc
    content_type: ContentType | None
    try:
        content_type, context = from_twilio_types(found.types)
    except ContentError:
        content_type, context = None, found.types
    status, reason = await fetch_approval(client, sid)
    return FetchedContent(content_type, context, status, reason)
