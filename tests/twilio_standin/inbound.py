"""Inbound messages as Twilio posts them to a number's webhook: text, media, quick-reply
taps, replies to a message (OriginalRepliedMessageSid) and SMS opt-out keywords (Advanced
Opt-Out's OptOutType), signed with the account's auth token."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, TypedDict

import aiohttp
from yarl import URL

from tests.twilio_standin.callbacks import API_VERSION, sign
from tests.twilio_standin.state import Account, Message, new_sid

# Twilio's Advanced Opt-Out keywords (SMS) and the OptOutType each posts.
OPT_OUT_TYPES = {
    **dict.fromkeys(
        ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"), "STOP"
    ),
    **dict.fromkeys(("START", "YES", "UNSTOP"), "START"),
    **dict.fromkeys(("HELP", "INFO"), "HELP"),
}
TIMEOUT = 15.0


@dataclass
class Inbound:
    """What a person (or test) asks the stand-in to post."""

    url: str
    from_: str  # +E.164 or whatsapp:+E.164: the person texting
    to: str  # the account's sender it texts
    body: str = ""
    media: list[tuple[str, str]] = field(default_factory=list)  # (url, content type)
    profile_name: str | None = None
    button_payload: str | None = None
    button_text: str | None = None
    message_type: str | None = None
    replied_sid: str | None = None  # OriginalRepliedMessageSid
    replied_sender: str | None = None  # OriginalRepliedMessageSender


class Answering(TypedDict):
    from_: str
    to: str
    replied_sid: str
    replied_sender: str


def answering(account: Account, message: Message) -> Answering:
    """The addresses of an answer to `message` by its recipient: From its To, To its
    sender, quoting it (OriginalRepliedMessageSid, on WhatsApp only)."""
    sender = message.from_ or account.sender_for(
        "whatsapp" if message.to.startswith("whatsapp:") else "sms"
    )
    return Answering(from_=message.to, to=sender, replied_sid=message.sid, replied_sender=sender)


def params_for(account: Account, inbound: Inbound) -> dict[str, str]:
    sid = new_sid("MM" if inbound.media else "SM")
    whatsapp = inbound.from_.startswith("whatsapp:")
    params = {
        "AccountSid": account.sid,
        "ApiVersion": API_VERSION,
        "Body": inbound.body,
        "From": inbound.from_,
        "MessageSid": sid,
        "NumMedia": str(len(inbound.media)),
        "NumSegments": "1",
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "SmsStatus": "received",
        "To": inbound.to,
    }
    for index, (url, content_type) in enumerate(inbound.media):
        params[f"MediaUrl{index}"] = url
        params[f"MediaContentType{index}"] = content_type
    if whatsapp:
        params["WaId"] = inbound.from_.removeprefix("whatsapp:+")
        params["ProfileName"] = inbound.profile_name or "Stand-in User"
        kind = "interactive" if inbound.button_payload is not None else "text"
        if inbound.media:
            kind = inbound.media[0][1].partition("/")[0] or "document"
        params["MessageType"] = inbound.message_type or kind
    if inbound.button_payload is not None:
        params["ButtonPayload"] = inbound.button_payload
        params["ButtonText"] = inbound.button_text or inbound.button_payload
    if inbound.replied_sid is not None and whatsapp:  # SMS carries no reply context
        params["OriginalRepliedMessageSid"] = inbound.replied_sid
        params["OriginalRepliedMessageSender"] = inbound.replied_sender or inbound.to
    keyword = inbound.body.strip().upper()
    if not whatsapp and keyword in OPT_OUT_TYPES:
        params["OptOutType"] = OPT_OUT_TYPES[keyword]
    return params


def remember(account: Account, inbound: Inbound, params: dict[str, str]) -> None:
    """What Twilio does on its side: an SMS STOP opts the number out of the account's sends
    (21610) until START; a WhatsApp message opens the 24-hour window."""
    number = inbound.from_.removeprefix("whatsapp:")
    opt_out = params.get("OptOutType")
    if opt_out == "STOP":
        account.opted_out.add(number)
    elif opt_out == "START":
        account.opted_out.discard(number)
    if inbound.from_.startswith("whatsapp:"):
        account.open_windows.add(inbound.from_)


async def post(
    session: aiohttp.ClientSession, account: Account, inbound: Inbound
) -> dict[str, Any]:
    """Post it signed; what was posted and the receiver's answer."""
    params = params_for(account, inbound)
    remember(account, inbound, params)
    signature = sign(account.auth_token, inbound.url, params)
    clock = time.perf_counter()
    answer: dict[str, Any] = {"status_code": None, "body": None, "error": None}
    try:
        async with session.post(
            URL(inbound.url, encoded=True),  # sent as given: the signature covers it
            data=params,
            headers={"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"},
            timeout=aiohttp.ClientTimeout(total=TIMEOUT),
            allow_redirects=False,
        ) as response:
            answer["status_code"] = response.status
            answer["body"] = (await response.read()).decode("utf-8", "replace")[:10_000]
    except (aiohttp.ClientError, TimeoutError, ValueError) as failure:
        answer["error"] = f"{type(failure).__name__}: {failure}"[:300]
    answer["response_ms"] = round((time.perf_counter() - clock) * 1000, 3)
    return {"url": inbound.url, "params": params, "signature": signature, **answer}
