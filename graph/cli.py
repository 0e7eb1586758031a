"""`clarion`: thin wiring of db, jobs and graph into commands."""

import argparse
import asyncio
import gc
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from db.settings import ConfigError, Settings

SCHEMA_PATH = Path("schema.graphql")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="clarion", description="Clarion campaign server.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the API (and, by default, a worker) on the configuration")
    sub.add_parser("worker", help="run a standalone worker (needs CLARION_REDIS_URL)")
    sub.add_parser("migrate", help="bring the database schema up to date")
    export = sub.add_parser("export-schema", help="print or write the GraphQL schema (SDL)")
    export.add_argument("--output", type=Path, help="write to this file instead of stdout")
    create = sub.add_parser("create-account", help="create an account and print its API key")
    create.add_argument("name", help="the account's display name")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # arq logs every job at INFO; the sweeper's tick every 2 seconds would drown the rest.
    logging.getLogger("arq.worker").addFilter(
        lambda record: "cron:sweep" not in record.getMessage()
    )

    if args.command == "export-schema":
        _export_schema(args.output)
        return
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        sys.exit(f"clarion: configuration error: {exc}")
    if args.command == "serve":
        _serve(settings)
    elif args.command == "worker":
        _worker(settings)
    elif args.command == "migrate":
        from db.migrate import upgrade

        asyncio.run(upgrade(settings.database_url))
        print("database is up to date")
    elif args.command == "create-account":
        print(asyncio.run(_create_account(settings, args.name)))


def _export_schema(output: Path | None) -> None:
    from graph.schema import schema

    sdl = schema.as_str() + "\n"
    if output is None:
        sys.stdout.write(sdl)
    else:
        output.write_text(sdl)


def _serve(settings: Settings) -> None:
    import uvicorn

    from graph.app import WS_COMPRESSION, create_app

    app = create_app(settings)
    _freeze_heap()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        ws_per_message_deflate=WS_COMPRESSION,
    )


def _worker(settings: Settings) -> None:
    if settings.redis_url is None:
        sys.exit(
            "clarion: a standalone worker shares Redis with the API: set CLARION_REDIS_URL "
            "(the embedded Redis lives inside `clarion serve`)."
        )
    from jobs.worker import SupervisedWorker  # noqa: F401 - imported before the freeze

    _freeze_heap()
    # The event loop `clarion serve` runs on (uvicorn picks uvloop when it is installed, as
    # uvicorn[standard] installs it): every database and HTTP await of a send passes
    # through the loop, and uvloop's costs a fraction of asyncio's.
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(_run_worker(settings, settings.redis_url))


def _freeze_heap() -> None:
    """Leaves what start-up made (the modules, the GraphQL schema: most of the heap) out of
    the cycle collector's full passes, which otherwise stop the process for ~100 ms each
    while it answers a thousand webhooks a second (tests/benchmarks/bench_twilio_feedback.py)."""
    gc.collect()
    gc.freeze()


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def _run_worker(settings: Settings, redis_url: str) -> None:
    import signal

    from db.engine import connect
    from db.migrate import upgrade
    from jobs.redis_pool import connect_queue
    from jobs.worker import SupervisedWorker

    await upgrade(settings.database_url)
    db = connect(settings.database_url)
    queue = await connect_queue(redis_url)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    try:
        worker = SupervisedWorker(queue, db, settings)
        worker.start()  # restarts itself after losing Redis: only a signal ends it
        await stopping.wait()
        await worker.stop()
    finally:
        await queue.aclose()
        await db.dispose()


async def _create_account(settings: Settings, name: str) -> str:
    from db.engine import connect
    from db.errors import DomainError
    from db.migrate import upgrade
    from db.usecases.accounts import create_account

    await upgrade(settings.database_url)
    db = connect(settings.database_url)
    try:
        async with db.write() as session:
            _account, key = await create_account(session, name)
    except DomainError as exc:
        sys.exit(f"clarion: {exc}")
    finally:
        await db.dispose()
    return key


if __name__ == "__main__":
    main()
