"""An inbound message as Twilio posts it (the "A message comes in" webhook), read into the
few fields Clarion keeps, each cleaned and capped.

Pure: no I/O. The request is Twilio's (its signature was checked) but its text is the
sender's: any bytes a phone can send. Control characters other than newline and tab are
dropped (PostgreSQL cannot store NUL; the rest only hide text), lengths are capped and
lists cut. A message without a MessageSid, or from a sender with no E.164 number (a
short code, an alphanumeric sender id), is not read: there is no contact to keep it for.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

from db.phones import PhoneNumberError, from_address

# WhatsApp carries up to 4,096 characters a message, SMS 1,600 (concatenated).
MAX_BODY = 4_096
MAX_BUTTON = 255  # the replies table's columns (a quick-reply id is at most 200)
MAX_PROFILE_NAME = 100  # a contact's first name
MAX_MEDIA = 10  # Twilio: at most 10 media items a message (MMS)
MAX_MEDIA_URL = 2_000
# SM… / MM… (and the like): two letters and 32 hex digits.
_SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")
# Every C0/C1 control but tab and newline, unpaired surrogates, and the Unicode line and
# paragraph separators (lines break on \n only).
_DROPPED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_ONE_LINE = re.compile("[\t\n]")
_MEDIA_URL = re.compile(r"https?://[^\s]+")


def clean(text: str, limit: int, *, one_line: bool = False) -> str:
    """`text` without control characters (newlines and tabs kept unless `one_line`), at
    most `limit` characters."""
    text = _DROPPED.sub("", text.replace("\r\n", "\n"))
    if one_line:
        text = _ONE_LINE.sub(" ", text).strip()
    return text[:limit]


@dataclass(frozen=True)
class InboundMessage:
    message_sid: str
    number: str  # the sender, E.164
    whatsapp: bool  # From had the whatsapp: prefix
    body: str
    button_payload: str
    button_text: str
    media_urls: tuple[str, ...]
    profile_name: str
    # The message of ours it answers (WhatsApp's OriginalRepliedMessageSid), "" if none.
    replied_to_sid: str
    # Twilio's Advanced Opt-Out verdict (STOP, START, HELP), uppercase; "" when absent.
    opt_out_type: str


def _sid(value: str) -> str:
    return value if _SID.fullmatch(value) else ""


def _media(params: Mapping[str, str]) -> tuple[str, ...]:
    raw = params.get("NumMedia", "0").strip()
    count = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 3 else 0
    urls = []
    for i in range(min(count, MAX_MEDIA)):
        url = params.get(f"MediaUrl{i}", "")
        if len(url) <= MAX_MEDIA_URL and _MEDIA_URL.fullmatch(url) and url.isascii():
            urls.append(url)
    return tuple(urls)


def read_inbound(params: Mapping[str, str]) -> InboundMessage | None:
    """The message in Twilio's parameters; None without a MessageSid or a sender number."""
    message_sid = _sid(params.get("MessageSid", "") or params.get("SmsSid", ""))
    if not message_sid:
        return None
    try:
        sender = from_address(params.get("From", ""))
    except PhoneNumberError:
        return None
    opt_out_type = params.get("OptOutType", "").strip().upper()
    return InboundMessage(
        message_sid=message_sid,
        number=sender.number,
        whatsapp=sender.whatsapp,
        body=clean(params.get("Body", ""), MAX_BODY),
        button_payload=clean(params.get("ButtonPayload", ""), MAX_BUTTON, one_line=True),
        button_text=clean(params.get("ButtonText", ""), MAX_BUTTON, one_line=True),
        media_urls=_media(params),
        profile_name=clean(params.get("ProfileName", ""), MAX_PROFILE_NAME, one_line=True),
        replied_to_sid=_sid(params.get("OriginalRepliedMessageSid", "")),
        opt_out_type=opt_out_type if opt_out_type in ("STOP", "START", "HELP") else "",
    )
