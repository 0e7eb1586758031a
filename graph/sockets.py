"""This process's open GraphQL WebSockets, by account and API key: caps them per account
and closes those whose key was revoked.

Revocation: once a second (while any socket is open) one query asks which of the keys
holding sockets are still active; sockets of the others are closed with 4401. A poll of
the database, the truth, rather than a Redis message: it reaches every API process, and
a revocation cannot be missed while Redis is away.

The cap counts sockets per account in this API process (MAX_PER_ACCOUNT); a socket over
it is closed with 4429 at `connection_init`.
"""

import asyncio
import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected

from db.engine import Database
from db.usecases.api_keys import still_active
from jobs.tasks import cancel_and_wait

log = logging.getLogger(__name__)

MAX_PER_ACCOUNT = 10
CHECK_EVERY_S = 1.0
# The WebSocket close codes (graphql-transport-ws leaves 4400-4999 to servers).
REVOKED = (4401, "API key revoked")
TOO_MANY = (4429, f"Too many open WebSockets for this account (at most {MAX_PER_ACCOUNT}).")
# Where ClarionWebSocketAdapter finds the close code to use instead of 4403 "Forbidden".
CLOSE_WITH = "clarion.close_with"


@dataclass
class _Socket:
    account_id: int
    key_id: int
    websocket: WebSocket


@dataclass
class SocketRegistry:
    db: Database
    _sockets: dict[int, _Socket] = field(default_factory=dict)  # by id(scope)
    _per_account: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    _task: "asyncio.Task[None] | None" = None

    def admit(self, account_id: int, key_id: int, websocket: WebSocket) -> bool:
        """Registers an authenticated socket; False (not registered) when over the cap."""
        if self._per_account[account_id] >= MAX_PER_ACCOUNT:
            self._forget_account_if_idle(account_id)
            return False
        self._sockets[id(websocket.scope)] = _Socket(account_id, key_id, websocket)
        self._per_account[account_id] += 1
        return True

    def forget(self, scope: Scope) -> None:
        socket = self._sockets.pop(id(scope), None)
        if socket is not None:
            self._per_account[socket.account_id] -= 1
            self._forget_account_if_idle(socket.account_id)

    def _forget_account_if_idle(self, account_id: int) -> None:
        if self._per_account.get(account_id) == 0:
            del self._per_account[account_id]

    def open_count(self, account_id: int) -> int:
        return self._per_account.get(account_id, 0)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(CHECK_EVERY_S)
            try:
                await self.close_revoked()
            except Exception:  # the database may be away for a moment: try again
                log.warning("could not check the API keys of open WebSockets", exc_info=True)

    async def close_revoked(self) -> None:
        held = {s.key_id for s in self._sockets.values()}
        if not held:
            return
        async with self.db.read() as session:
            active = await still_active(session, held)
        for scope_id, socket in list(self._sockets.items()):
            if socket.key_id not in active:
                self._sockets.pop(scope_id, None)
                self._per_account[socket.account_id] -= 1
                self._forget_account_if_idle(socket.account_id)
                await close(socket.websocket, *REVOKED)


async def close(websocket: WebSocket, code: int, reason: str) -> None:
    if websocket.application_state is not WebSocketState.DISCONNECTED:
        with contextlib.suppress(RuntimeError, OSError):
            await websocket.close(code=code, reason=reason)


class SocketGate:
    """Wraps the GraphQL WebSocket endpoint: forgets each socket when it ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            registry: SocketRegistry | None = scope.get("state", {}).get("sockets")
            if registry is not None:
                registry.forget(scope)


class ClarionWebSocketAdapter(ASGIWebSocketAdapter):
    """Strawberry's socket, closing with our code when one is set (over the cap: it would
    say 4403 "Forbidden"), and doing nothing on a socket already closed (by a revocation)
    instead of raising."""

    async def close(self, code: int, reason: str) -> None:
        code, reason = self.ws.scope.get(CLOSE_WITH, (code, reason))
        await close(self.ws, code, reason)

    async def send_json(self, message: Any) -> None:
        if self.ws.application_state is WebSocketState.DISCONNECTED:
            raise WebSocketDisconnected
        await super().send_json(message)
