"""Every request is checked against Twilio's OpenAPI descriptions (the trimmed copies in
`oai/`), with openapi-core's schema validators.

openapi-core's whole-request pipeline (`OpenAPI.validate_request`) takes ~3.5 ms here, most
of it walking the description again for every form field; the stand-in must take thousands
of creates a second. So each served operation is compiled once: one openapi-core
`SchemaValidator` per parameter and per request body, plus the JSON type of each form field
(form values arrive as strings and are cast like openapi-core casts them). A request then
costs one dict walk and one jsonschema pass (~40 µs). `tests/test_twilio_standin.py` checks
that this agrees with openapi-core's whole pipeline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from jsonschema_path import SchemaPath
from openapi_core.util import forcebool
from openapi_core.validation.schemas import oas30_write_schema_validators_factory
from openapi_core.validation.schemas.exceptions import InvalidSchemaValue
from openapi_core.validation.schemas.validators import SchemaValidator

from tests.twilio_standin.errors import TwilioError

OAI_DIR = Path(__file__).parent / "oai"
SPEC_FILES = ("twilio_api_v2010.json", "twilio_content_v1.json")
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
MAX_FIELDS = 200
_INTEGER = re.compile(r"-?[0-9]{1,18}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _date_or_datetime(value: object) -> bool:
    """Twilio documents `YYYY-MM-DD` for DateSent filters although the description says
    date-time; it takes both."""
    if not isinstance(value, str) or len(value) > 40:
        return False
    try:
        if _DATE.fullmatch(value):
            datetime.strptime(value, "%Y-%m-%d")
        else:
            datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


FORMATS: dict[str, Callable[[Any], bool]] = {"date-time": _date_or_datetime}


@dataclass(frozen=True)
class Param:
    name: str
    location: str
    required: bool
    kind: str
    validator: SchemaValidator


@dataclass(frozen=True)
class Body:
    media_type: str
    required: bool
    field_kinds: Mapping[str, str]
    validator: SchemaValidator


@dataclass(frozen=True)
class Operation:
    operation_id: str
    params: tuple[Param, ...]
    body: Body | None


@dataclass(frozen=True)
class Validated:
    params: dict[str, Any]
    body: dict[str, Any]


def _kind(schema: SchemaPath) -> str:
    with schema.resolve() as resolved:
        contents = resolved.contents
        kind = contents.get("type", "string") if isinstance(contents, Mapping) else "string"
    return kind if isinstance(kind, str) else "string"


def _compile(spec: SchemaPath, path: SchemaPath, method: str) -> Operation:
    operation = path / method
    params = []
    for holder in (operation, path):
        for param in holder.get("parameters", []):
            schema = param / "schema"
            params.append(
                Param(
                    name=(param / "name").read_str(),
                    location=(param / "in").read_str(),
                    required=(param / "required").read_bool(default=False),
                    kind=_kind(schema),
                    validator=oas30_write_schema_validators_factory.create(
                        spec, schema, extra_format_validators=FORMATS
                    ),
                )
            )
    body = None
    if "requestBody" in operation:
        request_body = operation / "requestBody"
        media_type_key, content = next(iter((request_body / "content").items()))
        media_type = str(media_type_key)
        schema = content / "schema"
        kinds = {}
        if media_type == FORM:
            kinds = {str(name): _kind(prop) for name, prop in (schema / "properties").items()}
        body = Body(
            media_type=media_type,
            required=(request_body / "required").read_bool(default=False),
            field_kinds=kinds,
            validator=oas30_write_schema_validators_factory.create(
                spec, schema, extra_format_validators=FORMATS
            ),
        )
    return Operation((operation / "operationId").read_str(), tuple(params), body)


@cache
def operations() -> dict[str, Operation]:
    """operationId → compiled operation, for every operation in the trimmed descriptions."""
    out = {}
    for name in SPEC_FILES:
        spec = SchemaPath.from_dict(json.loads((OAI_DIR / name).read_text("utf-8")))
        for _, path in (spec / "paths").items():
            for method in ("get", "post"):
                if method in path:
                    compiled = _compile(spec, path, method)
                    out[compiled.operation_id] = compiled
    return out


def _cast(kind: str, values: list[str]) -> Any:
    """A form or query string as the JSON type its schema names (openapi-core's casting);
    a value that does not cast stays a string and fails validation."""
    if kind == "array":
        return values
    value = values[0]
    if kind == "boolean":
        try:
            return forcebool(value)
        except ValueError:
            return value
    if kind == "integer" and _INTEGER.fullmatch(value):
        return int(value)
    if kind == "number":
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _schema_errors(error: InvalidSchemaValue) -> list[Any]:
    """jsonschema's ValidationErrors (untyped here: jsonschema ships no stubs)."""
    return [e for e in error.schema_errors if hasattr(e, "message")]


def _problems(error: InvalidSchemaValue, where: str) -> str:
    parts = []
    for schema_error in _schema_errors(error)[:5]:
        at = ".".join(str(p) for p in schema_error.absolute_path)
        parts.append(f"{where}{'.' + at if at else ''}: {schema_error.message[:200]}")
    return "; ".join(parts)


def _check(validator: SchemaValidator, value: Any, where: str) -> None:
    try:
        validator.validate(value)
    except InvalidSchemaValue as error:
        missing_to = any(
            e.validator == "required" and "'To'" in e.message for e in _schema_errors(error)
        )
        if missing_to:
            raise TwilioError(21604) from error
        raise TwilioError(20001, f"Invalid parameter: {_problems(error, where)}") from error


def _grouped(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for count, (key, value) in enumerate(pairs):
        if count >= MAX_FIELDS:
            raise TwilioError(20001, f"Invalid parameter: more than {MAX_FIELDS} fields")
        grouped.setdefault(key, []).append(value)
    return grouped


def _body(body_spec: Body, content_type: str, raw: bytes) -> dict[str, Any]:
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not raw and not body_spec.required and media_type != body_spec.media_type:
        return {}
    if media_type != body_spec.media_type:
        raise TwilioError(20001, f"Invalid parameter: Content-Type must be {body_spec.media_type}")
    if media_type == JSON:
        try:
            value = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise TwilioError(20001, "Invalid parameter: the body is not JSON") from error
        _check(body_spec.validator, value, "body")
        if not isinstance(value, dict):
            raise TwilioError(20001, "Invalid parameter: the body is not a JSON object")
        return value
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except (UnicodeDecodeError, ValueError) as error:
        raise TwilioError(20001, "Invalid parameter: the body is not form-encoded") from error
    kinds = body_spec.field_kinds
    fields = {k: _cast(kinds.get(k, "string"), v) for k, v in _grouped(pairs).items()}
    _check(body_spec.validator, fields, "body")
    return fields


def validate(
    operation_id: str,
    path_params: Mapping[str, str],
    query: Iterable[tuple[str, str]],
    content_type: str,
    raw_body: bytes,
) -> Validated:
    """The request's parameters and body, typed, or a `TwilioError` (400) on the first
    thing Twilio's description forbids."""
    operation = operations()[operation_id]
    sources = {"path": {k: [v] for k, v in path_params.items()}, "query": _grouped(query)}
    params: dict[str, Any] = {}
    for param in operation.params:
        values = sources.get(param.location, {}).get(param.name)
        if values is None:
            if param.required:
                raise TwilioError(20001, f"Invalid parameter: {param.name} is required")
            continue
        value = _cast(param.kind, values)
        _check(param.validator, value, param.name)
        params[param.name] = value
    body = _body(operation.body, content_type, raw_body) if operation.body else {}
    return Validated(params, body)


MAX_REQUEST_BODY = 256 * 1024


async def read_body(request: Any) -> bytes:
    """The request body, refused (413) past `MAX_REQUEST_BODY` bytes without buffering it."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_REQUEST_BODY:
            raise TwilioError(20001, "Request body too large", 413)
        chunks.append(chunk)
    return b"".join(chunks)
