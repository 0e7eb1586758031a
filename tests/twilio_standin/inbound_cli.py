"""`python -m tests.twilio_standin inbound ...`: ask a running stand-in to post a signed
inbound message (through its control API, so the account's token signs it)."""

from __future__ import annotations

import argparse
import json
from typing import Any

import httpx


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.twilio_standin inbound",
        description="Post a signed inbound message (a reply, a button tap, STOP) to a URL.",
    )
    parser.add_argument("--standin", default="http://127.0.0.1:8765", help="its base URL")
    parser.add_argument("--url", required=True, help="where to post: the channel's inboundUrl")
    parser.add_argument("--from", dest="from_", help="the texting person: whatsapp:+1… or +1…")
    parser.add_argument("--to", help="the account's sender texted (default: its first sender "
                        "on the --from channel)")  # fmt: skip
    parser.add_argument("--body", default="")
    parser.add_argument("--button-payload")
    parser.add_argument("--button-text")
    parser.add_argument("--profile-name")
    parser.add_argument("--media", action="append", default=[], help="URL[,content/type]")
    parser.add_argument(
        "--reply-to", help="a message SID: answer it (From, To and the replied SID from it)"
    )
    parser.add_argument("--account-sid", help="default: the stand-in's sample account")
    return parser


def main(argv: list[str]) -> int:
    """Prints what was posted and the receiver's answer; 0 when it answered 2xx."""
    args = _parser().parse_args(argv)
    body: dict[str, Any] = {"url": args.url, "body": args.body}
    for key in ("button_payload", "button_text", "profile_name"):
        if getattr(args, key) is not None:
            body[key] = getattr(args, key)
    if args.media:
        body["media"] = [
            {"url": url, "content_type": kind or "image/jpeg"}
            for url, _, kind in (m.partition(",") for m in args.media)
        ]
    with httpx.Client(base_url=args.standin.rstrip("/") + "/_standin", timeout=30) as http:
        if args.reply_to and not args.from_:
            answer = http.post(f"/messages/{args.reply_to}/reply", json=body)
        else:
            if not args.from_:
                _parser().error("--from is required (or --reply-to alone)")
            account = args.account_sid or http.get("/health").json()["sample_account_sid"]
            to = args.to
            if to is None:
                senders = http.get(f"/accounts/{account}").json()["senders"]
                whatsapp = args.from_.startswith("whatsapp:")
                to = next((s for s in senders if s.startswith("whatsapp:") == whatsapp), "")
            body |= {"from": args.from_, "to": to}
            if args.reply_to:
                body["reply_to"] = args.reply_to
            answer = http.post(f"/accounts/{account}/inbound", json=body)
    result = answer.json()
    print(json.dumps(result, indent=2))
    if answer.status_code != 200:
        return 2
    return 0 if result.get("status_code") and 200 <= result["status_code"] < 300 else 1
