"""Rendering throughput: the campaign template of bench_sending for batches of 500
contacts, in this process (as before render processes) and through a RenderPool (child
processes, as the engine renders now). Prints messages per second; asserts nothing.

    python -m tests.benchmarks.bench_render
"""

import asyncio
import time

from jobs.render import CampaignTemplate, TemplateSource, contact_context
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


def in_process(batch: list[dict[str, object]]) -> float:
    template = CampaignTemplate(SUBJECT, BODY_HTML, BODY_TEXT, UTM_CODE, UNSUBSCRIBE)
    started = time.perf_counter()
    for _ in range(BATCHES):
        for context in batch:
            template.render(context)
    return BATCH * BATCHES / (time.perf_counter() - started)


async def through_pool(batch: list[dict[str, object]], size: int, campaigns: int) -> float:
    from jobs.render_pool import RenderPool

    pool = RenderPool(size)
    source = TemplateSource(SUBJECT, BODY_HTML, BODY_TEXT, UTM_CODE, UNSUBSCRIBE)
    try:
        await pool.render(source, batch[:1])  # start the children, compile
        await asyncio.gather(*(pool.render(source, batch[:1]) for _ in range(size)))
        started = time.perf_counter()

        async def campaign() -> None:
            for _ in range(BATCHES // campaigns):
                await pool.render(source, batch)

        await asyncio.gather(*(campaign() for _ in range(campaigns)))
        return BATCH * BATCHES / (time.perf_counter() - started)
    finally:
        await pool.close()


def main() -> None:
    batch = contexts()
    print(f"in process:               {in_process(batch):8,.0f} msg/s")
    print(f"pool of 1, one campaign:  {asyncio.run(through_pool(batch, 1, 1)):8,.0f} msg/s")
    print(f"pool of 2, two campaigns: {asyncio.run(through_pool(batch, 2, 2)):8,.0f} msg/s")


if __name__ == "__main__":
    main()
