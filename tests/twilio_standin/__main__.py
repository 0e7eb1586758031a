"""Run the Twilio stand-in: `python -m tests.twilio_standin --port 8765 [--host 127.0.0.1]`.

Prints the base URL (give it to a Twilio channel as `apiBaseUrl`) and the sample account's
SID and auth token; `--account-sid`/`--auth-token` fix them, `--sender` (repeatable) sets
its sender addresses (default +15005550006 and whatsapp:+14155238886),
`--callback-concurrency` caps the status callbacks in flight (default 256).

Post a signed inbound message through a running stand-in (its sample account unless
`--account-sid`): `python -m tests.twilio_standin inbound --url INBOUND_URL
--from whatsapp:+15551230001 --body "Yes please"` (or `--body STOP`, `--button-payload ID`,
`--reply-to SM…`; see `inbound --help`).
"""

from __future__ import annotations

import argparse
import json
import sys

import uvicorn

from tests.twilio_standin import inbound_cli
from tests.twilio_standin.app import create_app
from tests.twilio_standin.control import SENDER, SID, TOKEN
from tests.twilio_standin.state import Store


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["inbound"]:
        sys.exit(inbound_cli.main(argv[1:]))
    parser = argparse.ArgumentParser(prog="python -m tests.twilio_standin", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--account-sid")
    parser.add_argument("--auth-token")
    parser.add_argument("--sender", action="append", dest="senders")
    parser.add_argument("--messaging-service-sid", action="append", dest="services")
    parser.add_argument("--callback-concurrency", type=int, default=256)
    parser.add_argument(
        "--no-callbacks",
        action="store_true",
        help="no status callbacks until an account's callback_plan enables them "
        "(the test fixture's default: tests ask for callbacks where they are the subject)",
    )
    parser.add_argument("--json", action="store_true", help="print the details as one JSON line")
    args = parser.parse_args(argv)
    if args.account_sid is not None and not SID.fullmatch(args.account_sid):
        parser.error("--account-sid must be AC followed by 32 hex digits")
    if args.auth_token is not None and not TOKEN.fullmatch(args.auth_token):
        parser.error("--auth-token must be 8-64 letters, digits, _ or -")
    for sender in args.senders or []:
        if not SENDER.fullmatch(sender):
            parser.error(f"--sender {sender!r} must be +E.164 or whatsapp:+E.164")
    for service in args.services or []:
        if not SID.fullmatch(service) or not service.startswith("MG"):
            parser.error(f"--messaging-service-sid {service!r} must be MG followed by 32 hex")
    try:
        sample = Store(not args.no_callbacks).create_account(
            args.account_sid, args.auth_token, args.senders, args.services
        )
    except ValueError as error:
        parser.error(str(error))
    if not 1 <= args.callback_concurrency <= 10_000:
        parser.error("--callback-concurrency must be in 1..10000")
    app = create_app(sample, args.callback_concurrency, not args.no_callbacks)
    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    base_url = f"http://{args.host}:{args.port}"
    details = {"base_url": base_url, **sample.describe()}
    if args.json:
        print(json.dumps(details), flush=True)
    else:
        print(
            f"Twilio stand-in at {base_url}\n"
            f"  account SID:  {sample.sid}\n"
            f"  auth token:   {sample.auth_token}\n"
            f"  senders:      {', '.join(sorted(sample.senders))}\n"
            f"  messaging service: {', '.join(sorted(sample.services))}\n"
            f"  control API:  {base_url}/_standin/ (see tests/twilio_standin/__init__.py)",
            flush=True,
        )
    server.run()
    sys.exit(0)


if __name__ == "__main__":
    main()
