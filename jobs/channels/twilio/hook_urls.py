"""Where Twilio calls Clarion back, under CLARION_PUBLIC_URL.

The channel's id rides in the query string: it names the auth token the request's
signature is checked with (the signature covers the query string, so it cannot be
swapped), and confines what the request may change to that channel's campaigns.
"""

STATUS_CALLBACK_PATH = "/hooks/twilio/status"
INBOUND_PATH = "/hooks/twilio/inbound"
CHANNEL_PARAM = "channel"


def hook_url(public_url: str, path: str, channel_id: int) -> str:
    return f"{public_url}{path}?{CHANNEL_PARAM}={channel_id}"
