"""Twilio's word on a message's status (a status callback's parameters, or a fetched Message
resource) as a StatusEvent for db/usecases/message_status.py. Pure.

What Twilio sends is read as hostile: a sid that is not a message sid, a status Clarion
does not know, or an error code that is not a short number, makes no event (or no code).
"""

import re
from datetime import datetime

from db.enums import ChannelType
from db.usecases.message_status import TWILIO_STATUSES, StatusEvent
from jobs.channels.twilio.errors import Kind, by_code

# A Message's sid: SM (or MM, a media message's) and 32 lowercase hex digits.
MESSAGE_SID = re.compile(r"(?:SM|MM)[0-9a-f]{32}")
_CODE = re.compile(r"[0-9]{1,9}")


def is_message_sid(value: str) -> bool:
    return MESSAGE_SID.fullmatch(value) is not None


def status_event(
    channel_id: int,
    account_id: int,
    channel_type: ChannelType,
    sid: str,
    status: str,
    error_code: object,
    at: datetime,
) -> StatusEvent | None:
    """The event Twilio's values make, or None when they say nothing Clarion can apply."""
    if not is_message_sid(sid) or status not in TWILIO_STATUSES:
        return None
    code = str(error_code) if error_code is not None else ""
    code = code if _CODE.fullmatch(code) else ""
    return StatusEvent(
        channel_id=channel_id,
        account_id=account_id,
        channel_type=channel_type,
        message_sid=sid,
        status=status,
        at=at,
        error_code=code,
        error_message=reason(status, code),
    )


def reason(status: str, code: str) -> str:
    """A failure in words: Twilio's code table's meaning of the code, else the status."""
    if not code:
        return f"Twilio reported the message {status}"
    verdict = by_code(int(code))
    if verdict.kind is Kind.UNKNOWN:  # a code not in the table
        return f"Twilio reported the message {status} (error {code})"
    return f"{verdict.reason} (the message was {status})"


def from_callback(
    channel_id: int,
    account_id: int,
    channel_type: ChannelType,
    params: dict[str, str],
    at: datetime,
) -> StatusEvent | None:
    """A status callback's event: MessageSid, MessageStatus and ErrorCode."""
    return status_event(
        channel_id,
        account_id,
        channel_type,
        params.get("MessageSid", ""),
        params.get("MessageStatus", ""),
        params.get("ErrorCode") or None,
        at,
    )
