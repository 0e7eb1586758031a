"""A small real HTTP receiver for the stand-in's status callbacks and inbound posts (tests):
uvicorn in a thread on a free port, keeping every POST (the URL, X-Twilio-Signature, the
form) and answering 200 `<Response/>` unless told to answer otherwise."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.twilio_standin.fixture import free_port


@dataclass(frozen=True)
class Received:
    path: str
    url: str  # as the receiver saw it
    signature: str | None
    content_type: str
    params: dict[str, str]
    at: float


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: dict[str, list[int]] = {}  # path → statuses to answer, in turn
        self.delays: dict[str, float] = {}  # path → seconds to wait before answering
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])])
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    async def _handle(self, request: Request) -> Response:
        # No python-multipart here: a urlencoded form, kept blanks and all, as Twilio's.
        form = parse_qsl((await request.body()).decode(), keep_blank_values=True)
        path = "/" + request.path_params["path"]
        self.received.append(
            Received(
                path=path,
                url=str(request.url),
                signature=request.headers.get("x-twilio-signature"),
                content_type=request.headers.get("content-type", ""),
                params=dict(form),
                at=time.time(),
            )
        )
        if self.delays.get(path):
            await asyncio.sleep(self.delays[path])
        queued = self.answers.get(path)
        status = queued.pop(0) if queued else 200
        return Response("<Response/>", status_code=status, media_type="text/xml")

    def start(self) -> Receiver:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the receiver did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def url(self, path: str) -> str:
        return self.base_url + path

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def wait(self, path: str, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.at(path)) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        found = self.at(path)
        assert len(found) >= count, f"{len(found)} of {count} posts to {path}"
        return found

    def statuses(self, path: str) -> list[Any]:
        return [r.params.get("MessageStatus") for r in self.at(path)]
