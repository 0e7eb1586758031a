"""What a benchmark's run cost the servers behind Clarion: PostgreSQL's CPU and
transactions (when the run is on it) and Redis' commands, as counters read before and
after. Statements are not counted: that needs pg_stat_statements preloaded, which a
machine's PostgreSQL may not have; transactions and rows written stand in for them."""

from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy import text

from db.engine import Database
from tests.benchmarks.cpu import postgres_cpu_seconds


@dataclass(frozen=True)
class Counters:
    postgres_cpu_s: float | None  # None: the run is on SQLite
    transactions: int | None
    rows_written: int | None
    redis_commands: int

    def minus(self, before: "Counters") -> "Counters":
        on_postgres = self.postgres_cpu_s is not None and before.postgres_cpu_s is not None
        return Counters(
            (self.postgres_cpu_s or 0.0) - (before.postgres_cpu_s or 0.0) if on_postgres else None,
            (self.transactions or 0) - (before.transactions or 0) if on_postgres else None,
            (self.rows_written or 0) - (before.rows_written or 0) if on_postgres else None,
            self.redis_commands - before.redis_commands,
        )

    def per_message(self, messages: int) -> str:
        n = max(messages, 1)
        parts = [f"Redis {self.redis_commands / n:.1f} commands"]
        if self.postgres_cpu_s is not None:
            parts.insert(0, f"PostgreSQL {self.postgres_cpu_s / n * 1e3:.3f} ms CPU")
        if self.transactions is not None and self.rows_written is not None:
            parts.insert(
                1,
                f"{self.transactions / n:.3f} transactions, "
                f"{self.rows_written / n:.2f} rows written",
            )
        return ", ".join(parts) + " a message"


async def read_counters(db: Database, redis: Redis) -> Counters:
    info = await redis.info("stats")
    commands = int(info["total_commands_processed"])
    if db.engine.dialect.name != "postgresql":
        return Counters(None, None, None, commands)
    async with db.read() as session:
        row = (
            await session.execute(
                text(
                    "SELECT xact_commit + xact_rollback, tup_inserted + tup_updated + tup_deleted"
                    " FROM pg_stat_database WHERE datname = current_database()"
                )
            )
        ).one()
    return Counters(postgres_cpu_seconds(), int(row[0]), int(row[1]), commands)
