"""HTTP Basic auth as Twilio checks it: AccountSid:AuthToken, or an API key SID:secret."""

from __future__ import annotations

import base64
import binascii
import hmac

from tests.twilio_standin.errors import TwilioError
from tests.twilio_standin.state import Account, Store

MAX_HEADER = 512


def _denied(detail: str) -> TwilioError:
    return TwilioError(20003, f"Authentication Error - {detail}")


def authenticate(store: Store, header: str | None, url_account_sid: str | None) -> Account:
    """The account the request acts for, or a 401 (code 20003)."""
    if not header or len(header) > MAX_HEADER or not header[:6].lower() == "basic ":
        raise _denied("No credentials provided")
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as error:
        raise _denied("invalid credentials") from error
    username, _, password = decoded.partition(":")
    owner_sid = store.key_owner.get(username, username)
    account = store.accounts.get(owner_sid)
    if account is None:
        raise _denied("invalid username")
    expected = account.api_keys.get(username) if username != owner_sid else account.auth_token
    if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
        raise _denied("invalid username or password")
    if url_account_sid is not None and url_account_sid != account.sid:
        raise _denied("the credentials do not belong to this account")
    return account
