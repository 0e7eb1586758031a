"""Rendering throughput: the campaign template of bench_sending for batches of 500
contacts, in this process (as before render processes) and through a RenderPool (child
processes, as the engine renders now). Prints messages per second and the CPU the
calling process (the worker's event loop) spends per message; asserts nothing.

    python -m tests.benchmarks.bench_render
"""

import asyncio
import time
from collections.abc import Callable

from jobs.channels.email.render import CampaignTemplate, TemplateSource, contact_context
from tests.benchmarks.bench_sending import BODY_HTML, BODY_TEXT, SUBJECT, UTM_CODE

BATCH = 500
BATCHES = 40
UNSUBSCRIBE = "http://127.0.0.1:8000/unsubscribe/"


def contexts() -> list[dict[str, object]]:
    return [
        contact_context(
            {
                "email": f"c{i:06d}@example.test",
                "first_name": f"Name{i}",
                "last_name": "",
                "phone": "",
                "whatsapp": "",
                "country": "",
                "source": "unknown",
            },
            f"{UNSUBSCRIBE}{i}.0123456789abcdef0123456789abcdef",
        )
        for i in range(BATCH)
    ]


def in_process(batch: list[dict[str, object]]) -> tuple[float, float]:
    template = CampaignTemplate(SUBJECT, BODY_HTML, BODY_TEXT, UTM_CODE, UNSUBSCRIBE)
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(BATCHES):
        for context in batch:
            template.render(context)
    return _figures(started, cpu)


def _figures(started: float, cpu: float) -> tuple[float, float]:
    """Messages per second, and this process's CPU microseconds per message."""
    n = BATCH * BATCHES
    return n / (time.perf_counter() - started), (time.process_time() - cpu) * 1e6 / n


async def through_pool(
    batch: list[dict[str, object]], size: int, campaigns: int
) -> tuple[float, float]:
    from jobs.channels.email.render_pool import RenderPool

    pool = RenderPool(size)
    source = TemplateSource(SUBJECT, BODY_HTML, BODY_TEXT, UTM_CODE, UNSUBSCRIBE)
    try:
        await pool.render(source, batch[:1])  # start the children, compile
        await asyncio.gather(*(pool.render(source, batch[:1]) for _ in range(size)))
        started, cpu = time.perf_counter(), time.process_time()

        async def campaign() -> None:
            for _ in range(BATCHES // campaigns):
                await pool.render(source, batch)

        await asyncio.gather(*(campaign() for _ in range(campaigns)))
        return _figures(started, cpu)
    finally:
        await pool.close()


def main() -> None:
    batch = contexts()
    runs: dict[str, Callable[[], tuple[float, float]]] = {
        "in process": lambda: in_process(batch),
        "pool of 1, one campaign": lambda: asyncio.run(through_pool(batch, 1, 1)),
        "pool of 2, two campaigns": lambda: asyncio.run(through_pool(batch, 2, 2)),
    }
    for name, run in runs.items():
        rate, cpu = run()
        print(f"{name:26} {rate:8,.0f} msg/s, {cpu:5.0f} µs of this process's CPU per message")


if __name__ == "__main__":
    main()
