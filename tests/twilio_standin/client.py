"""A `twilio` HTTP client (sync, tests only) that sends Twilio's hosts to the stand-in and
refuses any other host."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response

TWILIO_HOSTS = ("https://api.twilio.com", "https://content.twilio.com")


class StandinHttpClient(TwilioHttpClient):  # type: ignore[misc]
    def __init__(self, base_url: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")

    def rewrite(self, url: str) -> str:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in TWILIO_HOSTS:
            raise ValueError(f"refusing a request to {origin!r}: not a Twilio host")
        return self.base_url + url[len(origin) :]

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        return super().request(method, self.rewrite(url), *args, **kwargs)
