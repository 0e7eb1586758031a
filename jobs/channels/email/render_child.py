"""A render process (`python -m jobs.channels.email.render_child`), run by render_pool.py.

It reads batches from stdin and writes one result per message to stdout, as frames: a
4-byte big-endian length, then that many bytes of JSON. First it writes {"ready": true}.

  batch:  {"source": [subject, body_html, body_text, utm_code, untagged], "contexts": [...]}
  then:   {"compiled": true} once the template is compiled (unless it failed to), and
  result: {"ok": [subject, html, text]} | {"error": why} (the template failed for this
          contact) | {"over": why} (over the render budget, the batch ends) |
          {"full": true} (the batch's output reached MAX_BATCH_OUTPUT: the rest is left
          for another batch)

It limits its own address space (RLIMIT_AS, a MemoryError is over budget) and, before each
batch, its CPU time to what the batch may use (RLIMIT_CPU: the kernel ends it if its parent
is gone or stuck). The parent kills it when a message takes longer than the budget. It
keeps compiled templates between batches (jobs.channels.email.render.compiled).
"""

import json
import os
import resource
import struct
import sys
import time
from collections.abc import Mapping
from typing import IO, Any

from jobs.channels.email.render import (
    COMPILE_SECONDS,
    MAX_BATCH_OUTPUT,
    MEMORY_BYTES,
    SECONDS_PER_MESSAGE,
    OverBudget,
    TemplateSource,
    compiled,
)

_LENGTH = struct.Struct(">I")
# A batch of 500 contexts and 1.5 MB of sources is far below this.
MAX_FRAME = 256 * 1024 * 1024
FLUSH_EVERY_S = 0.05


def encode(message: Mapping[str, Any]) -> bytes:
    # A template can make lone surrogates ("\ud800"): they become "?", not a crash.
    data = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode(errors="replace")
    return _LENGTH.pack(len(data)) + data


HEADER_SIZE = _LENGTH.size


def frame_size(head: bytes) -> int:
    """The length a frame's header announces."""
    (size,) = _LENGTH.unpack(head)
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes")
    return int(size)


def read_frame(stream: IO[bytes]) -> Any:
    """The next frame's JSON, or None at the end of the stream."""
    head = stream.read(HEADER_SIZE)
    if len(head) < HEADER_SIZE:
        return None
    return json.loads(stream.read(frame_size(head)))


def render_batch(source: TemplateSource, contexts: list[dict[str, Any]]) -> Any:
    """{"compiled": true} once the template is compiled, then each context's result as it
    is rendered (a compile failure fails every message)."""
    try:
        template = compiled(source)
    except (OverBudget, MemoryError, RecursionError) as exc:
        yield from ({"over": _why(exc)} for _ in contexts)
        return
    except Exception as exc:
        yield from ({"error": f"template error: {exc}"} for _ in contexts)
        return
    yield {"compiled": True}
    size = 0
    for context in contexts:
        if size > MAX_BATCH_OUTPUT:  # the parent holds a batch's messages: the rest later
            yield {"full": True}
            return
        try:
            r = template.render(context)
            size += len(r.subject) + len(r.html) + len(r.text)
            yield {"ok": [r.subject, r.html, r.text]}
        except (OverBudget, MemoryError, RecursionError) as exc:
            yield {"over": _why(exc)}
        except Exception as exc:  # the template's mistake, for this contact
            yield {"error": f"template error: {exc}"}


def _why(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return f"it needs more than {MEMORY_BYTES // 2**20} MB of memory"
    if isinstance(exc, RecursionError):
        return "it recurses too deeply"
    return str(exc)


def _limit_cpu(messages: int) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    allowed = usage.ru_utime + usage.ru_stime + COMPILE_SECONDS + messages * SECONDS_PER_MESSAGE
    resource.setrlimit(resource.RLIMIT_CPU, (int(allowed) + 2, resource.RLIM_INFINITY))


def main() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Frames own stdout: anything else printed goes to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    stdin = sys.stdin.buffer
    out.write(encode({"ready": True}))
    out.flush()
    while (batch := read_frame(stdin)) is not None:
        contexts = batch["contexts"]
        _limit_cpu(len(contexts))
        flushed = time.monotonic()
        for result in render_batch(TemplateSource(*batch["source"]), contexts):
            out.write(encode(result))
            # Results go out every FLUSH_EVERY_S, not one write each (the parent times the
            # gaps between them, so the budget is measured to within that).
            if "compiled" in result or time.monotonic() - flushed > FLUSH_EVERY_S:
                out.flush()
                flushed = time.monotonic()
        out.flush()


if __name__ == "__main__":
    main()
