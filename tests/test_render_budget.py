"""The render budget: the sandbox's refusals and output caps (in this process), and the
render processes (jobs/channels/email/render_pool.py): time budget, memory limit, kill and
respawn."""

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import astuple
from pathlib import Path

import pytest

from jobs.channels.email.render import (
    MAX_BATCH_OUTPUT,
    MAX_BODY_OUTPUT,
    MAX_SUBJECT_OUTPUT,
    CampaignTemplate,
    OverBudget,
    Rendered,
    TemplateSource,
    contact_context,
)
from jobs.channels.email.render_child import encode, read_frame
from jobs.channels.email.render_pool import OverBudget as PoolOverBudget
from jobs.channels.email.render_pool import RenderError, RenderPool
from tests.test_render import UNSUBSCRIBE, contact

# Runs no Clarion server or database of the run's choosing: the PostgreSQL pass skips it.
pytestmark = pytest.mark.database_independent

CONTEXT = contact_context(contact(), UNSUBSCRIBE + "7.mac")


def render(html: str, subject: str = "s", text: str = "") -> Rendered:
    return CampaignTemplate(subject, html, text, "", UNSUBSCRIBE).render(CONTEXT)


@pytest.mark.parametrize(
    ("html", "why"),
    [
        ("{% for i in range(100000) %}x{% endfor %}", "a range of more than 10,000 items"),
        ("{{ range(0, 10**9, 2)|list }}", "a range of more than 10,000 items"),
        ("{{ 9**(9**(9**9)) }}", "a power of more than"),
        ("{{ 2**100000 }}", "a power of more than"),
        ("{{ (10**10000) * (10**10000) }}", "an integer of more than"),
        ("{{ 'x' * 10**10 }}", "a repetition longer than"),
        ("{{ 10**10 * 'x' }}", "a repetition longer than"),
        ("{{ (range(10000)|list) * 10000 }}", "a repetition longer than"),
        ("{% set s = 'x' * 600000 %}{{ s + s }}", "a concatenation longer than"),
        ("{{ '%0999999999d' % 1 }}", "a % format with a width"),
        ("{{ '%.*f' % (10**6, 1.0) }}", "a % format with a width"),
    ],
)
def test_sandbox_refuses_huge_operations(html: str, why: str) -> None:
    with pytest.raises(OverBudget, match=re.escape(why)):
        render(html)


@pytest.mark.parametrize(
    ("html", "out"),
    [
        ("{{ 2**10 }} {{ 9**9**9**9 > 0 }}", "1024 True"),  # Jinja's ** is left-associative
        ("{{ 'ab' * 3 }}{{ [1] * 2 }}", "ababab[1, 1]"),
        ("{{ 'a' + 'b' }}{{ [1] + [2] }}{{ 1 + 2 }}", "ab[1, 2]3"),
        ("{{ '%05d' % 42 }}|{{ '%-8s' % 'x' }}", "00042|x       "),
        ("{% for i in range(3) %}{{ i }}{% endfor %}", "012"),
    ],
)
def test_ordinary_operations_still_work(html: str, out: str) -> None:
    assert render(html).html == out


def test_output_is_capped_per_field() -> None:
    at_cap = "{% for i in range(10000) %}" + "x" * (MAX_BODY_OUTPUT // 10000) + "{% endfor %}"
    assert len(render(at_cap).html) == MAX_BODY_OUTPUT
    assert len(render("", text=at_cap).text) == MAX_BODY_OUTPUT
    over = at_cap + "y"
    with pytest.raises(OverBudget, match="body_html renders to more than 1,000,000"):
        render(over)
    with pytest.raises(OverBudget, match="body_text renders to more than 1,000,000"):
        render("", text=over)
    long_subject = "{% for i in range(3000) %}x{% endfor %}"
    with pytest.raises(OverBudget, match=f"subject renders to more than {MAX_SUBJECT_OUTPUT:,}"):
        render("", subject=long_subject)


# --- the render processes -------------------------------------------------------------------

SLOW = (  # within every operator limit, endless in effect: only the time budget stops it
    "{% for i in range(10000) %}{% for j in range(10000) %}{% for k in range(10000) %}"
    "{% endfor %}{% endfor %}{% endfor %}"
)
ANN = Rendered("Hi Ann", "<p>Lee</p>", "ann@example.test")
FINE = TemplateSource("Hi {{ first_name }}", "<p>{{ contact.last_name }}</p>", "{{ email }}")


def _reaped(pid: int) -> None:
    while os.path.exists(f"/proc/{pid}"):
        time.sleep(0.02)


@pytest.fixture
async def pool() -> AsyncIterator[RenderPool]:
    made = RenderPool(1)
    yield made
    await made.close()


async def test_renders_batches_in_a_child_process(pool: RenderPool) -> None:
    results = await pool.render(FINE, [CONTEXT, contact_context(contact(first_name="Bo"), "")])
    assert results == [
        Rendered("Hi Ann", "<p>Lee</p>", "ann@example.test"),
        Rendered("Hi Bo", "<p>Lee</p>", "ann@example.test"),
    ]
    (pid,) = pool.pids()
    assert pid != os.getpid()
    await pool.render(FINE, [CONTEXT])
    assert pool.pids() == [pid]  # kept between batches


@pytest.mark.parametrize(
    ("source", "why"),
    [
        (TemplateSource("s", SLOW, ""), "a message took longer than 1 s to render"),
        (
            TemplateSource("s", "{{ 'x'|center(10**9) }}", ""),  # one allocation past RLIMIT_AS
            "it needs more than 768 MB of memory",
        ),
        (
            TemplateSource("s", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", ""),
            "it recurses too deeply",
        ),
        (TemplateSource("{{ 'x' * 10**10 }}", "", ""), "a repetition longer than 1,000,000"),
    ],
)
async def test_over_budget_ends_the_batch_and_the_pool_goes_on(
    pool: RenderPool, source: TemplateSource, why: str
) -> None:
    await pool.render(FINE, [CONTEXT])
    (before,) = pool.pids()

    results = await pool.render(source, [CONTEXT, CONTEXT, CONTEXT])

    assert len(results) == 1
    assert isinstance(results[0], PoolOverBudget)
    assert why in results[0].reason
    # The child that was at it is gone (killed, or it had the rest of the batch to do).
    assert before not in pool.pids()
    assert await pool.render(FINE, [CONTEXT]) == [
        Rendered("Hi Ann", "<p>Lee</p>", "ann@example.test")
    ]
    assert before not in pool.pids()


async def test_a_template_error_fails_its_message_only(pool: RenderPool) -> None:
    source = TemplateSource("s", "{{ contact.missing.attribute }}{{ first_name }}", "")
    results = await pool.render(source, [CONTEXT, {**CONTEXT, "contact": {"missing": {}}}])
    assert isinstance(results[0], RenderError)
    assert "'dict object' has no attribute 'missing'" in results[0].reason
    assert results[1] == Rendered("s", "Ann", "")
    broken = await pool.render(TemplateSource("s", "{% if %}", ""), [CONTEXT])
    assert isinstance(broken[0], RenderError)
    assert "template error" in broken[0].reason


async def test_a_child_killed_while_idle_is_replaced(pool: RenderPool) -> None:
    await pool.render(FINE, [CONTEXT])
    (pid,) = pool.pids()
    os.kill(pid, signal.SIGKILL)
    await asyncio.to_thread(_reaped, pid)
    assert await pool.render(FINE, [CONTEXT]) == [
        Rendered("Hi Ann", "<p>Lee</p>", "ann@example.test")
    ]
    assert pool.pids() != [pid]


async def test_a_batch_stops_at_its_output_cap_and_the_child_goes_on(pool: RenderPool) -> None:
    """Messages of 1 MB each: the batch returns the first MAX_BATCH_OUTPUT characters'
    worth; the rest is for another batch (the sender releases those rows)."""
    big = TemplateSource("s", "{% for i in range(10000) %}{{ 'x' * 100 }}{% endfor %}", "")
    results = await pool.render(big, [CONTEXT] * 70)
    assert len(results) == MAX_BATCH_OUTPUT // MAX_BODY_OUTPUT
    assert all(r == Rendered("s", "x" * MAX_BODY_OUTPUT, "") for r in results)
    (pid,) = pool.pids()
    assert await pool.render(FINE, [CONTEXT]) == [ANN]
    assert pool.pids() == [pid]


def test_a_render_process_left_alone_is_ended_by_its_cpu_limit() -> None:
    """Without a parent to kill it (say the worker was SIGKILLed mid-batch), a render
    process stuck in a template ends by its own RLIMIT_CPU: the batch's budget, plus 2 s."""
    child = subprocess.Popen(
        [sys.executable, "-m", "jobs.channels.email.render_child"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    assert read_frame(child.stdout) == {"ready": True}
    child.stdin.write(encode({"source": astuple(TemplateSource("s", SLOW, "")), "contexts": [{}]}))
    child.stdin.close()  # the parent is gone
    assert read_frame(child.stdout) == {"compiled": True}
    assert child.wait(timeout=120) == -signal.SIGXCPU
    child.stdout.close()
