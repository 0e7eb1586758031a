"""The live dashboard: one static page (no build step, nothing from a CDN) that asks for an
API key and then uses the public API like any client: GraphQL over HTTP and WebSocket."""

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse

PAGE = Path(__file__).parent / "static" / "dashboard.html"


async def dashboard(request: Request) -> FileResponse:
    return FileResponse(PAGE, media_type="text/html", headers={"Cache-Control": "no-cache"})
