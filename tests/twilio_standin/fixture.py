"""Start the stand-in in its own process on a free port, for tests and benchmarks.

from tests.twilio_standin.fixture import twilio_standin  # re-export in a conftest
def test_x(twilio_standin: Standin) -> None:
    twilio_standin.base_url, twilio_standin.account_sid, twilio_standin.auth_token
    twilio_standin.control.number_error("+15005550001", 21211)
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Control:
    """A small client of the stand-in's `/_standin/` API for one account."""

    def __init__(self, base_url: str, account_sid: str):
        self.http = httpx.Client(base_url=base_url + "/_standin", timeout=10)
        self.account_sid = account_sid

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.request(method, path, json=body)
        response.raise_for_status()
        return response.json()

    def _account(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._call(method, f"/accounts/{self.account_sid}{path}", body)

    def create_account(self, **fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/accounts", fields)
        return result

    def create_api_key(self) -> dict[str, str]:
        result: dict[str, str] = self._account("POST", "/api_keys")
        return result

    def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        response = self.http.get(
            f"/accounts/{self.account_sid}/messages", params={"to": to} if to else None
        )
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()["messages"]
        return result

    def counts(self) -> dict[str, Any]:
        result: dict[str, Any] = self._account("GET", "/counts")
        return result

    def number_error(self, number: str, error: int | None) -> None:
        self._account("POST", "/number_errors", {"number": number, "error": error})

    def account_error(self, error: int | None) -> None:
        self._account("POST", "/account_error", {"error": error})

    def throttle(self, count: int) -> None:
        self._account("POST", "/throttle", {"count": count})

    def server_errors(self, count: int, status: int = 500, create: bool = True) -> None:
        body = {"count": count, "status": status, "create": create}
        self._account("POST", "/server_errors", body)

    def odd_sids(self, count: int, sid: str) -> None:
        """The next `count` creates make the message but answer `sid` as its sid."""
        self._account("POST", "/odd_sids", {"count": count, "sid": sid})

    def delay(self, seconds: float, count: int | None = None) -> None:
        self._account("POST", "/delay", {"seconds": seconds, "count": count})

    def open_window(self, number: str, is_open: bool = True) -> None:
        self._account("POST", "/windows", {"number": number, "open": is_open})

    def approval_plan(
        self,
        status: str = "approved",
        rejection_reason: str = "",
        after_fetches: int = 0,
        content_sid: str | None = None,
    ) -> None:
        body = {"status": status, "rejection_reason": rejection_reason}
        body["after_fetches"] = after_fetches  # type: ignore[assignment]
        if content_sid is None:
            self._account("PUT", "/approval_plan", body)
        else:
            self._call("PUT", f"/contents/{content_sid}/approval_plan", body)

    def reset(self) -> None:
        self._account("POST", "/reset")

    def callback_plan(self, **fields: Any) -> dict[str, Any]:
        """The account's status-callback plan: enabled, delay [min, max], duplicate,
        out_of_order, late_seconds, drop, final, error_code, retry_delay_seconds, ..."""
        result: dict[str, Any] = self._account("PUT", "/callback_plan", fields)
        return result

    def callback_number(self, number: str, **fields: Any) -> None:
        """One number's plan over the account's, e.g. final="undelivered", error_code=30003."""
        self._account("POST", "/callback_numbers", {"number": number, **fields})

    def callbacks(self, **filters: str) -> dict[str, Any]:
        """{"callbacks": [every attempt, oldest first], "pending": lifecycles/posts left}."""
        response = self.http.get("/callbacks", params={"account_sid": self.account_sid, **filters})
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def wait_callbacks(self, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Every attempt once nothing is pending any more."""
        deadline = time.monotonic() + timeout
        while (found := self.callbacks())["pending"] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert found["pending"] == 0, f"{found['pending']} callbacks still pending"
        result: list[dict[str, Any]] = found["callbacks"]
        return result

    def inbound(self, **body: Any) -> dict[str, Any]:
        """Post a signed inbound message: url, from, to, body, button_payload, reply_to, ..."""
        result: dict[str, Any] = self._account("POST", "/inbound", body)
        return result

    def reply(self, message_sid: str, **body: Any) -> dict[str, Any]:
        """The message's recipient answers it (url, body, button_payload, ...)."""
        result: dict[str, Any] = self._call("POST", f"/messages/{message_sid}/reply", body)
        return result

    def set_status(self, message_sid: str, status: str, error_code: int | None = None) -> None:
        """What fetching the message reads from now on (no callback is sent)."""
        body = {"status": status, "error_code": error_code}
        self._call("POST", f"/messages/{message_sid}/status", body)

    def close(self) -> None:
        self.http.close()


@dataclass
class Standin:
    base_url: str
    account_sid: str
    auth_token: str
    senders: list[str]
    messaging_service_sid: str
    control: Control
    process: subprocess.Popen[str]


def start(
    port: int | None = None,
    timeout: float = 20.0,
    extra_args: list[str] | None = None,
    callbacks: bool = False,
) -> Standin:
    """A stand-in process with a fresh sample account, answering /_standin/health
    (`extra_args`: more command-line options, e.g. --callback-concurrency). Its messages
    call back only once a test's callback_plan(enabled=True) asks, unless `callbacks`."""
    port = port or free_port()
    account_sid = "AC" + secrets.token_hex(16)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.twilio_standin",
            "--port",
            str(port),
            "--json",
            "--account-sid",
            account_sid,
            "--auth-token",
            secrets.token_hex(16),
            *([] if callbacks else ["--no-callbacks"]),
            *(extra_args or []),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    details = json.loads(process.stdout.readline() or "{}")
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(base_url + "/_standin/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the Twilio stand-in did not start (exit {process.poll()})")
        time.sleep(0.05)
    return Standin(
        base_url=base_url,
        account_sid=details["account_sid"],
        auth_token=details["auth_token"],
        senders=details["senders"],
        messaging_service_sid=details["messaging_service_sids"][0],
        control=Control(base_url, details["account_sid"]),
        process=process,
    )


def stop(standin: Standin) -> None:
    standin.control.close()
    standin.process.terminate()
    try:
        standin.process.wait(10)
    except subprocess.TimeoutExpired:
        standin.process.kill()
        standin.process.wait()
    if standin.process.stdout is not None:
        standin.process.stdout.close()


@pytest.fixture(scope="module")
def twilio_standin() -> Iterator[Standin]:
    """One stand-in process per test module; reset its sample account between tests with
    `twilio_standin.control.reset()` where it matters."""
    standin = start()
    try:
        yield standin
    finally:
        stop(standin)
