"""Extract the operations the stand-in serves from Twilio's OpenAPI descriptions.

Twilio's descriptions (github.com/twilio/twilio-oai, MIT) are large (the 2010 API is
1.9 MB); the stand-in needs a handful of operations. This keeps those paths and methods,
the components they reference (transitively), the security schemes and the top-level
metadata, and writes them as sorted, indented JSON into `oai/` next to this file. The
output is committed; `tests/test_twilio_standin.py` checks it is what this script makes.

    python -m tests.twilio_standin.trim_oai [--source DIR] [--output DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

OAI_DIR = Path(__file__).parent / "oai"
_REPO = Path(__file__).resolve().parents[2]
# The project keeps Twilio's descriptions in ../shared/twilio-oai beside the repository
# (a worktree under ../wt/ looks one level further up); CLARION_TWILIO_OAI overrides.
SOURCE_CANDIDATES = (
    _REPO.parent / "shared" / "twilio-oai",
    _REPO.parent.parent / "shared" / "twilio-oai",
)

# file name → {path: methods kept}
SERVED: dict[str, dict[str, tuple[str, ...]]] = {
    "twilio_api_v2010.json": {
        "/2010-04-01/Accounts/{AccountSid}/Messages.json": ("get", "post"),
        "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json": ("get",),
    },
    "twilio_content_v1.json": {
        "/v1/Content": ("get", "post"),
        "/v1/Content/{Sid}": ("get",),
        "/v1/Content/{ContentSid}/ApprovalRequests/whatsapp": ("post",),
        "/v1/Content/{Sid}/ApprovalRequests": ("get",),
    },
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
TOP_LEVEL = ("openapi", "info", "servers", "security", "tags")


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _pointer(ref: str) -> tuple[str, ...]:
    if not ref.startswith("#/"):
        raise ValueError(f"only local references are supported: {ref!r}")
    return tuple(part.replace("~1", "/").replace("~0", "~") for part in ref[2:].split("/"))


def trim(document: Mapping[str, Any], served: Mapping[str, tuple[str, ...]]) -> dict[str, Any]:
    """The part of `document` that the `served` paths and methods need."""
    out: dict[str, Any] = {key: document[key] for key in TOP_LEVEL if key in document}
    paths: dict[str, Any] = {}
    for path, methods in served.items():
        item = document["paths"][path]
        kept = {k: v for k, v in item.items() if k not in HTTP_METHODS or k in methods}
        missing = set(methods) - set(kept)
        if missing:
            raise KeyError(f"{path} has no {sorted(missing)}")
        paths[path] = kept
    out["paths"] = paths
    components: dict[str, dict[str, Any]] = {}
    if "securitySchemes" in document.get("components", {}):
        components["securitySchemes"] = document["components"]["securitySchemes"]
    pending = list(_refs(paths))
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        parts = _pointer(ref)
        if len(parts) != 3 or parts[0] != "components":
            raise ValueError(f"unexpected reference {ref!r}")
        target = document["components"][parts[1]][parts[2]]
        components.setdefault(parts[1], {})[parts[2]] = target
        pending.extend(_refs(target))
    out["components"] = components
    return out


def render(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def build(source: Path) -> dict[str, str]:
    """File name → trimmed JSON text, for every described file, plus Twilio's LICENSE."""
    files = {
        name: render(trim(json.loads((source / name).read_text("utf-8")), served))
        for name, served in SERVED.items()
    }
    files["LICENSE"] = (source / "LICENSE").read_text("utf-8")
    return files


def find_source() -> Path | None:
    """Where Twilio's full descriptions are on this machine, if anywhere."""
    override = os.environ.get("CLARION_TWILIO_OAI")
    candidates = (Path(override),) if override else SOURCE_CANDIDATES
    return next((c for c in candidates if (c / "twilio_api_v2010.json").is_file()), None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=find_source())
    parser.add_argument("--output", type=Path, default=OAI_DIR)
    args = parser.parse_args(argv)
    if args.source is None:
        parser.error("Twilio's descriptions not found: give --source or CLARION_TWILIO_OAI")
    args.output.mkdir(parents=True, exist_ok=True)
    for name, text in build(args.source).items():
        (args.output / name).write_text(text, "utf-8")
        print(f"{args.output / name}: {len(text):,} characters")
    if (args.source / "SOURCE").exists():
        shutil.copyfile(args.source / "SOURCE", args.output / "SOURCE")


if __name__ == "__main__":
    main()
